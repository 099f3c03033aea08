//! `POST /me/mfa/totp/confirm`: finish enrollment with a first code from the authenticator.
use fieldvault_aws::app::{json_body, Reply};
use fieldvault_aws::session::TenantSession;
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::mfa::CodeInput;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(confirm_http, with_session);

async fn confirm_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
    session: &TenantSession,
) -> Result<Reply, ApiError> {
    let c = cx.caller;
    cx.authorize(
        Action::ConfirmTotp,
        &Resource::User(c.tenant.clone(), c.user.clone()),
    )
    .await?;
    let input: CodeInput = json_body(req)?;
    let (mut next, _) =
        fieldvault_aws::mfa::attempt(cx, session, &input.code, Action::ConfirmTotp, false).await?;
    let previous = next.version - 1;
    next.confirmed = true;
    cx.commit(
        Action::ConfirmTotp,
        &format!("user/{}", c.user),
        vec![next.write(Some(previous))],
        None,
        Some(&serde_json::json!({ "confirmed": true })),
    )
    .await
    .map_err(store_error)?;
    Reply::ok(&serde_json::json!({ "confirmed": true }))
}
