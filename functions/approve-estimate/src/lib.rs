//! `POST /estimates/{id}/approve`: record the customer's approval of one option of the
//! revision they saw, with who recorded it, when, and a hash of exactly what was approved.
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::estimate::store::{load, save};
use fieldvault_core::estimate::ApproveEstimate;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(handle_http);

async fn handle_http<S: TenantStore>(cx: &Ctx<'_, S>, req: &Request) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let before = load(cx, &id, Action::ApproveEstimate).await?;
    let input: ApproveEstimate = json_body(req)?;
    let after = before.approve(&input, &cx.caller.user, cx.now())?;
    save(cx, Action::ApproveEstimate, &before, &after).await?;
    Reply::ok(&after.view(cx.now().date()))
}
