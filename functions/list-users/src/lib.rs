//! `GET /users`: the users of the caller's tenant, by email (owner and admin only).
use fieldvault_aws::app::{page_limit, query_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::keys;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::routes::PageOf;
use fieldvault_core::store::TenantStore;
use fieldvault_core::user::UserProfile;
use lambda_http::Request;

fieldvault_aws::handler!(list_users_http);

async fn list_users_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let limit = page_limit(req)?;
    Reply::ok(&list_users(cx, limit, query_param(req, "cursor").as_deref()).await?)
}

pub async fn list_users<S: TenantStore>(
    cx: &Ctx<'_, S>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<PageOf<UserProfile>, ApiError> {
    let tenant = &cx.caller.tenant;
    cx.authorize(Action::ListUsers, &Resource::Tenant(tenant.clone()))
        .await?;
    cx.page(true, keys::users_list(tenant), limit, cursor, false)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldvault_core::audit::Outcome;
    use fieldvault_core::caller::Role;
    use fieldvault_core::memory::TestRig;

    #[tokio::test]
    async fn only_owners_and_admins_list_users_and_denials_are_recorded() {
        for role in Role::ALL {
            let rig = TestRig::new("acme", role);
            let got = list_users(&rig.ctx(), 10, None).await;
            let allowed = matches!(role, Role::Owner | Role::Admin);
            assert_eq!(got.is_ok(), allowed, "{role}");
            if !allowed {
                assert_eq!(got.err(), Some(ApiError::Forbidden));
                assert_eq!(
                    rig.audit_actions(),
                    vec![("user.list".to_string(), Outcome::Denied)]
                );
            }
        }
    }

    #[tokio::test]
    async fn a_forged_cursor_is_a_400() {
        let rig = TestRig::new("acme", Role::Owner);
        let got = list_users(&rig.ctx(), 10, Some("eyJwayI6IlQjb3RoZXIjVVNFUlMifQ.AAAA")).await;
        assert!(matches!(got, Err(ApiError::BadRequest { .. })));
    }
}
