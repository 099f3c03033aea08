//! `GET /evidence/{id}/download`: a presigned GET (at most 5 minutes) signed with the tenant
//! session's credentials, issued only after the policy allowed it (job evidence: the office
//! and the job's technicians; recordings and transcripts: owner, admin, dispatcher) and the
//! access record was written (fail closed: no record, no URL).
use std::sync::Arc;

use fieldvault_aws::app::{path_param, Reply};
use fieldvault_aws::session::TenantSession;
use fieldvault_core::evidence::store::download;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(download_evidence_http, with_session);

async fn download_evidence_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
    session: &Arc<TenantSession>,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let objects = session.objects()?;
    Reply::ok(&download(cx, &objects, &id).await?)
}
