//! `POST /me/mfa/totp`: start TOTP enrollment. A new 160-bit secret is stored as a sealed
//! field (KMS envelope encryption under the tenant's encryption context) and shown this once,
//! for the authenticator app.
//! An existing confirmed enrollment is not replaced here (409).
use fieldvault_aws::app::Reply;
use fieldvault_aws::session::TenantSession;
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::keys;
use fieldvault_core::mfa::{base32, totp_context, Enrollment, EnrollmentSecret};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::sealed::FieldCipher;
use fieldvault_core::store::TenantStore;
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
    if existing.as_ref().is_some_and(|e| e.confirmed) {
        return Err(ApiError::Conflict(
            "an authenticator is already enrolled".into(),
        ));
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
        failures: 0,
        locked_until: None,
        version: existing.as_ref().map(|e| e.version + 1).unwrap_or(1),
    };
    let after = serde_json::json!({ "confirmed": false });
    cx.commit(
        Action::EnrollTotp,
        &format!("user/{}", c.user),
        vec![enrollment.write(existing.map(|e| e.version))],
        None,
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
