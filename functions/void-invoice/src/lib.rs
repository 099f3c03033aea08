//! `POST /invoices/{id}/void`: void an issued, unpaid invoice (its number is kept, never
//! reused). Needs an MFA step-up for billing corrections in this sign-in, and two phases:
//! without `confirmation_id` it answers 202 with a summary and an id bound to exactly this
//! request and the invoice's current version; repeating it with the id voids.
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::confirm;
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
    let route = format!("{} {}", req.method(), req.uri().path());
    let data = serde_json::json!({ "invoice": before.id, "version": before.version, "reason": after.void_reason });
    let Some(confirmation_id) = &input.confirmation_id else {
        let total = before.totals.total_minor;
        let summary = format!(
            "Void invoice #{} for {}.{:02} {}: {}",
            before.number.unwrap_or_default(),
            total / 100,
            total % 100,
            String::from(before.currency.clone()),
            after.void_reason.clone().unwrap_or_default()
        );
        let c = confirm::prepare(cx.cursors, cx.caller, &route, &data, summary, cx.now());
        return Reply::accepted(&c);
    };
    confirm::check(
        cx.cursors,
        cx.caller,
        &route,
        &data,
        confirmation_id,
        cx.now(),
    )?;
    save(cx, Action::VoidInvoice, &before, &after).await?;
    Reply::ok(&after.view(cx.now().date()))
}
