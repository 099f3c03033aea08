//! `POST /tasks/{id}/snooze`: push a task to a later time (at most 90 days).
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use fieldvault_core::task::store::{load, save};
use fieldvault_core::task::SnoozeTask;
use lambda_http::Request;

fieldvault_aws::handler!(snooze_task_http);

async fn snooze_task_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let before = load(
        cx,
        &path_param(req, "id").unwrap_or_default(),
        Action::SnoozeTask,
    )
    .await?;
    let input: SnoozeTask = json_body(req)?;
    let after = before.snooze(input.until, cx.now())?;
    save(cx, Action::SnoozeTask, &before, &after).await?;
    Reply::ok(&after.view(cx.now()))
}
