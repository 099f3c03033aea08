//! `POST /invoices/{id}/send`: send an issued invoice to the customer: a pay link (until the
//! invoice is voided or the link expires or is revoked), recorded in the outbox with the link
//! sealed by KMS, in one audited transaction. The answer carries the link once.
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_aws::portal::{issue_link, LinkRequest};
use fieldvault_aws::App;
use fieldvault_core::actions::Action;
use fieldvault_core::customer::Customer;
use fieldvault_core::invoice::store::load;
use fieldvault_core::invoice::InvoiceStatus;
use fieldvault_core::keys;
use fieldvault_core::link::{DocumentKind, LinkPurpose};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(send_invoice_http, with_app);

async fn send_invoice_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
    app: &App,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let invoice = load(cx, &id, Action::SendInvoice).await?;
    if invoice.status != InvoiceStatus::Issued {
        return Err(ApiError::Conflict(
            "only an issued invoice can be sent".into(),
        ));
    }
    let customer: Customer = cx
        .get(&keys::customer(&cx.caller.tenant, &invoice.customer_id))
        .await?
        .ok_or(ApiError::NotFound)?;
    let session = app.session_for(cx.caller).await?;
    let (link, writes) = issue_link(
        cx,
        app,
        &session,
        LinkRequest {
            purpose: LinkPurpose::Pay,
            kind: DocumentKind::Invoice,
            document_id: invoice.id.to_string(),
            document_version: invoice.number.unwrap_or_default(),
            customer: &customer,
            subject: format!("Invoice #{}", invoice.number.unwrap_or_default()),
        },
    )
    .await?;
    let after = serde_json::json!({ "link_id": link.link_id, "purpose": link.purpose, "expires_at": link.expires_at });
    cx.commit(
        Action::SendInvoice,
        &format!("invoice/{}", invoice.id),
        writes,
        None,
        Some(&after),
    )
    .await
    .map_err(store_error)?;
    Reply::ok(&serde_json::json!({ "invoice": invoice.view(cx.now().date()), "link": link }))
}
