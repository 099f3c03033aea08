//! `GET /jobs`: the office sees every job, newest first; a technician sees the jobs assigned
//! to them (their own partition, which is all their session reads).
use fieldvault_aws::app::{page_limit, query_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::caller::Role;
use fieldvault_core::job::Job;
use fieldvault_core::keys;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::routes::PageOf;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(list_jobs_http);

async fn list_jobs_http<S: TenantStore>(cx: &Ctx<'_, S>, req: &Request) -> Result<Reply, ApiError> {
    let limit = page_limit(req)?;
    Reply::ok(&list_jobs(cx, limit, query_param(req, "cursor").as_deref()).await?)
}

pub async fn list_jobs<S: TenantStore>(
    cx: &Ctx<'_, S>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<PageOf<Job>, ApiError> {
    let t = &cx.caller.tenant;
    cx.authorize(Action::ListJobs, &Resource::Tenant(t.clone()))
        .await?;
    let partition = if cx.caller.role == Role::Technician {
        keys::technician_jobs(t, &cx.caller.user)
    } else {
        keys::jobs_list(t)
    };
    cx.page(false, partition, limit, cursor, true).await
}
