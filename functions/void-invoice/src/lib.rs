//! `POST /invoices/{id}/void`: void an issued, unpaid invoice (its number is kept, never
//! reused). Needs an MFA step-up for billing corrections in this sign-in.
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::invoice::store::{load, save};
use fieldvault_core::invoice::VoidInvoice;
use fieldvault_core::mfa::ActionClass;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(void_invoice_http);

async fn void_invoice_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let before = load(cx, &id, Action::VoidInvoice).await?;
    cx.require_step_up(ActionClass::BillingCorrections).await?;
    let input: VoidInvoice = json_body(req)?;
    let after = before.void(&input)?;
    save(cx, Action::VoidInvoice, &before, &after).await?;
    Reply::ok(&after.view(cx.now().date()))
}
