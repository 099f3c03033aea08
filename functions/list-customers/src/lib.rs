//! `GET /customers`: the tenant's customers by name, paged (never for technicians).
use fieldvault_aws::app::{page_limit, query_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::customer::Customer;
use fieldvault_core::keys;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::routes::PageOf;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(list_customers_http);

async fn list_customers_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let limit = page_limit(req)?;
    Reply::ok(&list_customers(cx, limit, query_param(req, "cursor").as_deref()).await?)
}

pub async fn list_customers<S: TenantStore>(
    cx: &Ctx<'_, S>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<PageOf<Customer>, ApiError> {
    let tenant = &cx.caller.tenant;
    cx.authorize(Action::ListCustomers, &Resource::Tenant(tenant.clone()))
        .await?;
    cx.page(true, keys::customers_list(tenant), limit, cursor, false)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldvault_core::caller::Role;
    use fieldvault_core::memory::TestRig;

    #[tokio::test]
    async fn technicians_never_list_customers() {
        let rig = TestRig::new("acme", Role::Technician);
        assert_eq!(
            list_customers(&rig.ctx(), 10, None).await.err(),
            Some(ApiError::Forbidden)
        );
        let rig = TestRig::new("acme", Role::Accounting);
        assert!(list_customers(&rig.ctx(), 10, None).await.is_ok());
    }
}
