//! `GET /estimates/{id}`: one estimate (office and accounting; never technicians: prices).
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::estimate::store::load;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(get_estimate_http);

async fn get_estimate_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    Reply::ok(
        &load(cx, &id, Action::GetEstimate)
            .await?
            .view(cx.now().date()),
    )
}
