//! `GET /tasks`: what's next for the caller, soonest first: the open tasks of the kinds
//! their role works (the office: leads, estimates, scheduling, reviews; accounting: invoicing
//! and collection), each marked overdue when its time has passed.
use fieldvault_aws::app::{page_limit, query_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::keys;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::routes::PageOf;
use fieldvault_core::store::{ListQuery, TenantStore};
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
    let partition = keys::open_tasks(t);
    let start = cx.start_after(&partition, cursor)?;
    let page = cx
        .store
        .list(&ListQuery {
            index: true,
            partition: partition.clone(),
            limit,
            start,
            newest_first: false,
        })
        .await
        .map_err(store_error)?;
    Ok(PageOf {
        items: page
            .items
            .iter()
            .filter_map(Task::from_item)
            .filter(|task| task.kind.shown_to(cx.caller.role))
            .map(|task| task.view(cx.now()))
            .collect(),
        next_cursor: cx.next_cursor(&partition, page.next.as_ref()),
    })
}
