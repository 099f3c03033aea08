//! The TOTP check both enrollment confirmation and step-up make.
use fieldvault_core::actions::Action;
use fieldvault_core::keys;
use fieldvault_core::mfa::{totp_context, Enrollment};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::sealed::FieldCipher;
use fieldvault_core::store::{TenantStore, Write};

use crate::session::TenantSession;

/// Check a code against the caller's enrollment, consuming it or counting the failure; both
/// outcomes are written with their audit record.
pub async fn attempt<S: TenantStore>(
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
    let context = totp_context(&c.tenant, &c.user).map_err(|_| ApiError::Internal)?;
    let secret = session
        .fields()
        .open(&context, &enrollment.secret)
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
