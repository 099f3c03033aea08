//! `POST /links/{id}/revoke`: kill a customer link by its id (the SHA-256 of its token, as
//! answered when it was made). The page it opened becomes the neutral page.
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::keys;
use fieldvault_core::link::Link;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(revoke_link_http);

async fn revoke_link_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    cx.authorize(
        Action::RevokeLink,
        &Resource::Tenant(cx.caller.tenant.clone()),
    )
    .await?;
    if id.len() != 64 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::NotFound);
    }
    let before: Link = cx
        .get(&keys::link(&cx.caller.tenant, &id))
        .await?
        .ok_or(ApiError::NotFound)?;
    let after = before.revoke(cx.now())?;
    let resource = format!("link/{}", &id[..16]);
    cx.commit_change(
        Action::RevokeLink,
        &resource,
        vec![after.write(Some(before.version))],
        Some(&before),
        &after,
        "link",
    )
    .await?;
    Reply::ok(&after)
}
