//! `POST /estimates/{id}/decline`: record that the customer declined.
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::estimate::store::{load, save};
use fieldvault_core::estimate::DeclineEstimate;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(handle_http);

async fn handle_http<S: TenantStore>(cx: &Ctx<'_, S>, req: &Request) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let before = load(cx, &id, Action::DeclineEstimate).await?;
    let input: DeclineEstimate = json_body(req)?;
    let after = before.decline(&input, &cx.caller.user, cx.now())?;
    save(cx, Action::DeclineEstimate, &before, &after).await?;
    Reply::ok(&after.view(cx.now().date()))
}
