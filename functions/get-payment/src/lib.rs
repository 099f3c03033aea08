//! `GET /payments/{id}`: one payment as the provider reported it (display-safe metadata only),
//! its allocations to invoices and its refunds.
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::payment::store::load;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(get_payment_http);

async fn get_payment_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    Reply::ok(&load(cx, &id, Action::GetPayment).await?)
}
