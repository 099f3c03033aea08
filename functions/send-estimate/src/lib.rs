//! `POST /estimates/{id}/send`: mark a draft as sent to the customer (links arrive with the
//! customer portal).
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::estimate::store::{load, save};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(send_estimate_http);

async fn send_estimate_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let before = load(cx, &id, Action::SendEstimate).await?;
    let after = before.send(cx.now())?;
    save(cx, Action::SendEstimate, &before, &after).await?;
    Reply::ok(&after.view(cx.now().date()))
}
