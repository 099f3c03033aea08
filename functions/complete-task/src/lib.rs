//! `POST /tasks/{id}/complete`: mark a task done (recorded with who and when).
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::keys;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::TenantStore;
use fieldvault_core::task::Task;
use lambda_http::Request;

fieldvault_aws::handler!(handle_http);

async fn handle_http<S: TenantStore>(cx: &Ctx<'_, S>, req: &Request) -> Result<Reply, ApiError> {
    let raw = path_param(req, "id").unwrap_or_default();
    let (kind, subject) = Task::parse_id(&raw).ok_or(ApiError::NotFound)?;
    let t = &cx.caller.tenant;
    let before = cx
        .store
        .get(&keys::task(t, kind.as_str(), subject))
        .await
        .map_err(store_error)?
        .as_ref()
        .and_then(Task::from_item)
        // A task the caller's role does not work is not theirs to see.
        .filter(|task| task.kind.shown_to(cx.caller.role))
        .ok_or(ApiError::NotFound)?;
    cx.authorize(
        Action::CompleteTask,
        &Resource::Record {
            tenant: t.clone(),
            kind: "Task",
            id: before.id.clone(),
        },
    )
    .await?;
    let after = before.complete(&cx.caller.user, cx.now())?;
    let b = serde_json::to_value(&before).map_err(|_| ApiError::Internal)?;
    let a = serde_json::to_value(&after).map_err(|_| ApiError::Internal)?;
    cx.commit(
        Action::CompleteTask,
        &format!("task/{}", after.id),
        vec![after.put()],
        Some(&b),
        Some(&a),
    )
    .await
    .map_err(store_error)?;
    Reply::ok(&after.view(cx.now()))
}
