//! `POST /tasks/{id}/complete`: mark a task done (recorded with who and when).
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use fieldvault_core::task::store::{load, save};
use lambda_http::Request;

fieldvault_aws::handler!(complete_task_http);

async fn complete_task_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let before = load(
        cx,
        &path_param(req, "id").unwrap_or_default(),
        Action::CompleteTask,
    )
    .await?;
    let after = before.complete(&cx.caller.user, cx.now())?;
    save(cx, Action::CompleteTask, &before, &after).await?;
    Reply::ok(&after.view(cx.now()))
}
