//! `POST /jobs/{id}/status`: hold (with a reason), resume, complete (every visit done) or
//! cancel (with a reason). Jobs are never deleted.
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::job::store::{load, save};
use fieldvault_core::job::ChangeJobStatus;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(handle_http);

async fn handle_http<S: TenantStore>(cx: &Ctx<'_, S>, req: &Request) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let before = load(cx, &id, Action::ChangeJobStatus).await?;
    let input: ChangeJobStatus = json_body(req)?;
    let after = before.change_status(&input)?;
    save(
        cx,
        Action::ChangeJobStatus,
        Some(&before),
        &after,
        Vec::new(),
    )
    .await?;
    Reply::ok(&after)
}
