//! `GET /audit`: the tenant's audit trail, newest first (owner and admin only).
use fieldvault_aws::app::{page_limit, query_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::audit::AuditRecord;
use fieldvault_core::authz::Resource;
use fieldvault_core::keys;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::routes::PageOf;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(list_audit_http);

async fn list_audit_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let limit = page_limit(req)?;
    Reply::ok(&list_audit(cx, limit, query_param(req, "cursor").as_deref()).await?)
}

pub async fn list_audit<S: TenantStore>(
    cx: &Ctx<'_, S>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<PageOf<AuditRecord>, ApiError> {
    let tenant = &cx.caller.tenant;
    cx.authorize(Action::ListAudit, &Resource::AuditLog(tenant.clone()))
        .await?;
    let partition = keys::audit_partition(tenant);
    let start = cx.start_after(&partition, cursor)?;
    let page = cx
        .store
        .audit_page(limit, start)
        .await
        .map_err(store_error)?;
    Ok(PageOf {
        items: page
            .items
            .into_iter()
            .filter_map(|i| serde_json::from_value(serde_json::Value::Object(i)).ok())
            .collect(),
        next_cursor: cx.next_cursor(&partition, page.next.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldvault_core::caller::Role;
    use fieldvault_core::memory::TestRig;

    #[tokio::test]
    async fn dispatchers_cannot_read_the_audit_trail_but_their_attempt_is_in_it() {
        let rig = TestRig::new("acme", Role::Dispatcher);
        assert_eq!(
            list_audit(&rig.ctx(), 10, None).await.err(),
            Some(ApiError::Forbidden)
        );
        let owner = TestRig::new("acme", Role::Owner);
        let page = list_audit(&owner.ctx(), 10, None)
            .await
            .expect("owner reads");
        assert!(page.items.is_empty());
        assert_eq!(rig.audit_actions().len(), 1);
    }
}
