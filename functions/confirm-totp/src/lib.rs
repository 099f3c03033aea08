//! `POST /me/mfa/totp/confirm`: finish enrollment with a first code from the authenticator.
use fieldvault_aws::app::{json_body, Reply};
use fieldvault_aws::session::TenantSession;
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::keys;
use fieldvault_core::mfa::{CodeInput, Enrollment};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::{TenantStore, Write};
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
    let (mut next, _) = attempt(cx, session, &input.code, Action::ConfirmTotp, false).await?;
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

/// Check a code against the caller's enrollment, consuming it or counting the failure; both
/// outcomes are written with their audit record.
async fn attempt<S: TenantStore>(
    cx: &Ctx<'_, S>,
    session: &TenantSession,
    code: &str,
    action: Action,
    require_confirmed: bool,
) -> Result<(Enrollment, Vec<Write>), ApiError> {
    let c = cx.caller;
    let enrollment: Enrollment =
        cx.get(&keys::mfa(&c.tenant, &c.user))
            .await?
            .ok_or_else(|| {
                ApiError::Conflict("no authenticator is enrolled (POST /me/mfa/totp)".into())
            })?;
    if require_confirmed != enrollment.confirmed {
        return Err(ApiError::Conflict(if require_confirmed {
            "confirm the authenticator first (POST /me/mfa/totp/confirm)".into()
        } else {
            "the authenticator is already confirmed".into()
        }));
    }
    let secret = session
        .decrypt_secret(&enrollment.secret_ciphertext, &c.user, "totp")
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let (ok, next) = enrollment.attempt(&secret, code, cx.now());
    let resource = format!("user/{}", c.user);
    if !ok {
        let reason = if enrollment.locked(cx.now()) {
            "locked out"
        } else {
            "wrong or reused code"
        };
        cx.commit_refusal(
            action,
            &resource,
            reason,
            vec![next.write(Some(enrollment.version))],
        )
        .await
        .map_err(store_error)?;
        return Err(ApiError::Unauthenticated(if next.locked(cx.now()) {
            "too many wrong codes; try again in 15 minutes".into()
        } else {
            "the code is wrong or was already used".into()
        }));
    }
    let write = next.write(Some(enrollment.version));
    Ok((next, vec![write]))
}
