//! `GET /jobs/{id}/evidence`: a job's evidence records (the office, or a technician assigned
//! to the job), paged. Metadata only: each download is its own audited request.
use fieldvault_aws::app::{page_limit, path_param, query_param, Reply};
use fieldvault_core::evidence::store::list_for_job;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(list_evidence_http);

async fn list_evidence_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let job = path_param(req, "id").unwrap_or_default();
    let cursor = query_param(req, "cursor");
    Reply::ok(&list_for_job(cx, &job, page_limit(req)?, cursor.as_deref()).await?)
}
