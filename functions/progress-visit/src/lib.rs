//! `POST /jobs/{id}/visits/{visit_id}/progress`: a technician moves their own visit forward
//! (en route → on site → done) and adds notes; the office may too.
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::caller::Role;
use fieldvault_core::ids::VisitId;
use fieldvault_core::job::store::{load, save};
use fieldvault_core::job::VisitProgress;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(handle_http);

async fn handle_http<S: TenantStore>(cx: &Ctx<'_, S>, req: &Request) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let before = load(cx, &id, Action::ProgressVisit).await?;
    let visit = path_param(req, "visit_id")
        .and_then(|v| VisitId::parse(&v).ok())
        .ok_or(ApiError::NotFound)?;
    let input: VisitProgress = json_body(req)?;
    let after = before.progress_visit(
        &visit,
        &input,
        &cx.caller.user,
        cx.caller.role == Role::Technician,
        cx.now(),
    )?;
    save(cx, Action::ProgressVisit, Some(&before), &after, Vec::new()).await?;
    Reply::ok(&after)
}
