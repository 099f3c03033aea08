//! `GET /me`: who the caller is, in which tenant, with which role.
use fieldvault_aws::app::Reply;
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::keys;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::{Item, TenantStore};
use fieldvault_core::user::{Me, Tenant, UserProfile};
use lambda_http::Request;

fieldvault_aws::handler!(get_me_http);

async fn get_me_http<S: TenantStore>(cx: &Ctx<'_, S>, _req: &Request) -> Result<Reply, ApiError> {
    Reply::ok(&get_me(cx).await?)
}

fn parse<T: serde::de::DeserializeOwned>(item: Option<Item>) -> Option<T> {
    item.and_then(|i| serde_json::from_value(serde_json::Value::Object(i)).ok())
}

pub async fn get_me<S: TenantStore>(cx: &Ctx<'_, S>) -> Result<Me, ApiError> {
    let c = cx.caller;
    cx.authorize(
        Action::GetMe,
        &Resource::User(c.tenant.clone(), c.user.clone()),
    )
    .await?;
    let profile: Option<UserProfile> = parse(
        cx.store
            .get(&keys::user(&c.tenant, &c.user))
            .await
            .map_err(store_error)?,
    );
    let tenant: Option<Tenant> = parse(
        cx.store
            .get(&keys::tenant_profile(&c.tenant))
            .await
            .map_err(store_error)?,
    );
    Ok(Me {
        user_id: c.user.clone(),
        username: c.username.clone(),
        role: c.role,
        tenant,
        profile,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldvault_core::caller::Role;
    use fieldvault_core::memory::TestRig;

    #[tokio::test]
    async fn every_role_can_read_itself() {
        for role in Role::ALL {
            let rig = TestRig::new("acme", role);
            let me = get_me(&rig.ctx()).await.expect("allowed");
            assert_eq!(me.role, role);
            assert!(me.profile.is_none());
        }
    }
}
