//! `GET /invoices/{id}`: one invoice with its derived balance and overdue flag (never for
//! technicians).
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::invoice::store::load;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(get_invoice_http);

async fn get_invoice_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    Reply::ok(
        &load(cx, &id, Action::GetInvoice)
            .await?
            .view(cx.now().date()),
    )
}
