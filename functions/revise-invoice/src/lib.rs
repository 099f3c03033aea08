//! `PATCH /invoices/{id}`: change a draft invoice (an issued one changes only through later
//! documents).
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::invoice::store::{load, save};
use fieldvault_core::invoice::InvoiceRevision;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(revise_invoice_http);

async fn revise_invoice_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let before = load(cx, &id, Action::ReviseInvoice).await?;
    let input: InvoiceRevision = json_body(req)?;
    let after = before.revise(&input)?;
    save(cx, Action::ReviseInvoice, &before, &after).await?;
    Reply::ok(&after.view(cx.now().date()))
}
