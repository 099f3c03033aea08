//! `POST /me/mfa/totp`: start TOTP enrollment. A new 160-bit secret is stored as a sealed
//! field (KMS envelope encryption under the tenant's encryption context) and shown this once,
//! for the authenticator app.
//!
//! Not trust-on-first-use: with no confirmed authenticator (a first enrollment, or one never
//! confirmed) the token's sign-in (`auth_time`) must be from the last 5 minutes, so a token
//! stolen from an older sign-in cannot enroll the thief's authenticator. Replacing a confirmed
//! authenticator needs an `mfa_enrollment` step-up with it, which this spends; a user who lost
//! theirs is reset by an owner or admin (`POST /users/{id}/mfa/reset`). A locked-out
//! enrollment stays locked. Every attempt is audited.
use fieldvault_aws::app::Reply;
use fieldvault_aws::session::TenantSession;
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::keys;
use fieldvault_core::mfa::{
    base32, require_fresh_sign_in, totp_context, ActionClass, Enrollment, EnrollmentSecret,
};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::sealed::FieldCipher;
use fieldvault_core::store::{Condition, TenantStore, Write};
use lambda_http::Request;
use rand::RngCore;

fieldvault_aws::handler!(enroll_http, with_session);

async fn enroll_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    _req: &Request,
    session: &TenantSession,
) -> Result<Reply, ApiError> {
    let c = cx.caller;
    cx.authorize(
        Action::EnrollTotp,
        &Resource::User(c.tenant.clone(), c.user.clone()),
    )
    .await?;
    let existing: Option<Enrollment> = cx.get(&keys::mfa(&c.tenant, &c.user)).await?;
    let replaces = existing.as_ref().is_some_and(|e| e.confirmed);
    if let Err(refused) = may_enroll(cx, existing.as_ref(), replaces).await {
        cx.commit_refusal(
            Action::EnrollTotp,
            &format!("user/{}", c.user),
            &refused.to_string(),
            Vec::new(),
        )
        .await
        .map_err(store_error)?;
        return Err(refused);
    }
    let mut secret = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut secret);
    let context = totp_context(&c.tenant, &c.user).map_err(|_| ApiError::Internal)?;
    let sealed = session
        .fields()
        .seal(&context, &secret)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let enrollment = Enrollment {
        tenant_id: c.tenant.clone(),
        user_id: c.user.clone(),
        secret: sealed,
        confirmed: false,
        last_step: 0,
        // Failures count on across a re-enrollment (a lockout is refused above).
        failures: existing.as_ref().map_or(0, |e| e.failures),
        locked_until: None,
        version: existing.as_ref().map(|e| e.version + 1).unwrap_or(1),
    };
    let mut writes = vec![enrollment.write(existing.as_ref().map(|e| e.version))];
    if replaces {
        // The proof from the old authenticator is spent on this replacement.
        writes.push(Write::Delete {
            key: keys::step_up(&c.tenant, &c.user, ActionClass::MfaEnrollment.as_str()),
            condition: Condition::None,
        });
    }
    let before = existing
        .as_ref()
        .map(|e| serde_json::json!({ "confirmed": e.confirmed }));
    let after = serde_json::json!({
        "confirmed": false,
        "replaces_confirmed": replaces,
        "sign_in": if replaces { "mfa_enrollment step-up" } else { "fresh" },
    });
    cx.commit(
        Action::EnrollTotp,
        &format!("user/{}", c.user),
        writes,
        before.as_ref(),
        Some(&after),
    )
    .await
    .map_err(store_error)?;
    let secret_base32 = base32(&secret);
    let otpauth_uri = format!("otpauth://totp/Fieldvault:{}?secret={secret_base32}&issuer=Fieldvault&algorithm=SHA1&digits=6&period=30", c.username);
    Reply::created(&EnrollmentSecret {
        secret_base32,
        otpauth_uri,
    })
}

/// Whether this caller may (re-)enroll now: not while locked out; replacing a confirmed
/// authenticator needs an `mfa_enrollment` step-up with it; anything else is a first
/// enrollment and needs a fresh sign-in.
async fn may_enroll<S: TenantStore>(
    cx: &Ctx<'_, S>,
    existing: Option<&Enrollment>,
    replaces: bool,
) -> Result<(), ApiError> {
    if existing.is_some_and(|e| e.locked(cx.now())) {
        return Err(ApiError::Unauthenticated(
            "too many wrong codes; try again in 15 minutes".into(),
        ));
    }
    if replaces {
        cx.require_step_up(ActionClass::MfaEnrollment).await
    } else {
        require_fresh_sign_in(cx.caller.auth_time, cx.now())
    }
}
