//! `POST /jobs/{id}/evidence`: a presigned PUT for a photo, video or document of a job (the
//! office, or a technician assigned to the job). The URL binds the tenant's key prefix, the
//! content type, the exact length and the SSE-KMS headers, and lives 5 minutes; the evidence
//! record is committed, audited, before the URL is returned.
use std::sync::Arc;

use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_aws::session::TenantSession;
use fieldvault_core::evidence::{store::create_for_job, NewEvidence};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(create_evidence_upload_http, with_session);

async fn create_evidence_upload_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
    session: &Arc<TenantSession>,
) -> Result<Reply, ApiError> {
    let job = path_param(req, "id").unwrap_or_default();
    let input: NewEvidence = json_body(req)?;
    let objects = session.objects()?;
    Reply::created(&create_for_job(cx, &objects, &job, &input).await?)
}
