//! `GET /tasks`: what's next for the caller, soonest first: the open tasks of the kinds
//! their role works (the office: leads, estimates, scheduling, reviews; accounting: invoicing
//! and collection), each marked overdue when its time has passed.
use fieldvault_aws::app::{page_limit, query_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::keys;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::routes::PageOf;
use fieldvault_core::store::TenantStore;
use fieldvault_core::task::Task;
use lambda_http::Request;

fieldvault_aws::handler!(list_tasks_http);

async fn list_tasks_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let limit = page_limit(req)?;
    Reply::ok(&list_tasks(cx, limit, query_param(req, "cursor").as_deref()).await?)
}

pub async fn list_tasks<S: TenantStore>(
    cx: &Ctx<'_, S>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<PageOf<Task>, ApiError> {
    let t = &cx.caller.tenant;
    cx.authorize(Action::ListTasks, &Resource::Tenant(t.clone()))
        .await?;
    let mut page: PageOf<Task> = cx
        .page(true, keys::open_tasks(t), limit, cursor, false)
        .await?;
    page.items.retain(|task| task.kind.shown_to(cx.caller.role));
    page.items = page
        .items
        .into_iter()
        .map(|task| task.view(cx.now()))
        .collect();
    Ok(page)
}
