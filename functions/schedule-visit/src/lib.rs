//! `POST /jobs/{id}/visits`: add a visit with a time window, optionally assigned to a
//! technician (who then sees the job and its customer).
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::job::store::{load, save};
use fieldvault_core::job::NewVisit;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(handle_http);

async fn handle_http<S: TenantStore>(cx: &Ctx<'_, S>, req: &Request) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let before = load(cx, &id, Action::ScheduleVisit).await?;
    let input: NewVisit = json_body(req)?;
    let after = before.schedule_visit(&input, cx.ids)?;
    save(cx, Action::ScheduleVisit, Some(&before), &after, Vec::new()).await?;
    Reply::ok(&after)
}
