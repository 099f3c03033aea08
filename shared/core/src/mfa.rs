//! MFA step-up: TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, ±1 step of clock skew)
//! enrolled through the API with the secret encrypted under the tenant's KMS context, and a
//! step-up proof bound to the user's sign-in and an action class, valid for 5 minutes.
//! A code is never accepted twice; five failures lock step-up for 15 minutes.
//!
//! Enrollment is not trust-on-first-use: a first authenticator needs a sign-in from the last
//! five minutes (a stolen token from an older sign-in cannot enroll one), and replacing a
//! confirmed authenticator needs a step-up with it (`mfa_enrollment`), or an owner/admin
//! reset (itself behind a `user_management` step-up) after which the user enrolls afresh.
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use time::{Duration, OffsetDateTime};

use crate::ids::{TenantId, UserId};
use crate::keys;
use crate::problem::ApiError;
use crate::sealed::{FieldContext, SealError, SealedField};
use crate::store::{Condition, Item, Write};

pub const STEP_SECONDS: i64 = 30;
pub const PROOF_VALID_FOR: Duration = Duration::minutes(5);
pub const MAX_FAILURES: u32 = 5;
pub const LOCKOUT: Duration = Duration::minutes(15);
/// How recent a sign-in must be to enroll a first authenticator.
pub const FRESH_SIGN_IN: Duration = Duration::minutes(5);
/// How far in the future a sign-in time may be (clock skew between Cognito and us).
const SIGN_IN_SKEW_SECONDS: i64 = 60;

/// What a step-up proof unlocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionClass {
    /// Voids and credit notes of issued invoices; recording or refunding payments.
    BillingCorrections,
    /// Inviting, disabling users; changing roles.
    UserManagement,
    /// Accounting exports: the tenant's ledger of invoices, credit notes, payments, refunds.
    AccountingExports,
    /// Employee HR records (tax ids, bank details): reading or writing them.
    HrRecords,
    /// Replacing one's enrolled authenticator (the proof comes from a code of the old one).
    MfaEnrollment,
}

impl ActionClass {
    pub const ALL: [ActionClass; 5] = [
        ActionClass::BillingCorrections,
        ActionClass::UserManagement,
        ActionClass::AccountingExports,
        ActionClass::HrRecords,
        ActionClass::MfaEnrollment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionClass::BillingCorrections => "billing_corrections",
            ActionClass::UserManagement => "user_management",
            ActionClass::AccountingExports => "accounting_exports",
            ActionClass::HrRecords => "hr_records",
            ActionClass::MfaEnrollment => "mfa_enrollment",
        }
    }
}

/// Whether a sign-in at `auth_time` (Cognito's `auth_time` claim, Unix seconds; never `iat`)
/// is recent enough to enroll a first authenticator: at most [`FRESH_SIGN_IN`] ago, and not
/// more than a minute ahead of our clock. No `auth_time`, no enrollment.
pub fn fresh_sign_in(auth_time: Option<i64>, now: OffsetDateTime) -> bool {
    let Some(at) = auth_time else {
        return false;
    };
    let now = now.unix_timestamp();
    let age = now.saturating_sub(at);
    age <= FRESH_SIGN_IN.whole_seconds() && age >= -SIGN_IN_SKEW_SECONDS
}

/// Refuse a first enrollment from a token whose sign-in is not fresh.
pub fn require_fresh_sign_in(auth_time: Option<i64>, now: OffsetDateTime) -> Result<(), ApiError> {
    if fresh_sign_in(auth_time, now) {
        Ok(())
    } else {
        Err(ApiError::Unauthenticated(
            "enrolling a first authenticator needs a sign-in from the last 5 minutes: sign in again, then enroll".into(),
        ))
    }
}

/// What owners and admins are told when they are onboarded or invited: every action behind a
/// step-up needs a confirmed authenticator, and a first one needs a fresh sign-in.
pub const OWNER_ADMIN_MFA_NOTICE: &str = "Owners and admins must enroll an authenticator (TOTP) before any step-up-gated action (user management, billing corrections, accounting exports, HR records): sign in, then within 5 minutes POST /me/mfa/totp and confirm with POST /me/mfa/totp/confirm.";

/// The notice for a role, if it has one (roles that can reach a step-up-gated action).
pub fn enrollment_notice(role: crate::caller::Role) -> Option<&'static str> {
    use crate::caller::Role;
    matches!(role, Role::Owner | Role::Admin).then_some(OWNER_ADMIN_MFA_NOTICE)
}

/// The 6-digit code for a time step.
pub fn code_at(secret: &[u8], step: i64) -> Option<String> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).ok()?;
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let bin = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    Some(format!("{:06}", bin % 1_000_000))
}

pub fn step_of(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(STEP_SECONDS)
}

/// The step a code matches (now, or one step either side), if any, compared in constant time.
pub fn matching_step(secret: &[u8], code: &str, now: OffsetDateTime) -> Option<i64> {
    use subtle::ConstantTimeEq;
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let current = step_of(now);
    [current - 1, current, current + 1].into_iter().find(|s| {
        code_at(secret, *s)
            .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(code.as_bytes())))
    })
}

/// RFC 4648 base32 without padding, as authenticator apps expect.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(char::from(ALPHABET[((buffer >> (bits - 5)) & 31) as usize]));
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The encryption-context purpose of TOTP secrets.
pub const TOTP_PURPOSE: &str = "totp";

/// Where a user's TOTP secret is sealed: {tenant, `totp`, `user/<id>`}.
pub fn totp_context(t: &TenantId, u: &UserId) -> Result<FieldContext, SealError> {
    FieldContext::new(t, TOTP_PURPOSE, &format!("user/{u}"))
}

/// A user's TOTP enrollment (the secret only ever stored sealed).
///
/// The secret is a sealed field (KMS envelope encryption, `sealed.rs`). Enrollments written
/// before the envelope format (`secret_ciphertext`: a direct KMS Encrypt blob) are not read
/// any more: no production data existed in that format, so keeping a second decryption path
/// (and `kms:Encrypt` use) alive would only widen what a session can do. Such an item does not
/// parse; confirming or stepping up then answers "no authenticator is enrolled".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    /// The secret, sealed under [`totp_context`].
    pub secret: SealedField,
    pub confirmed: bool,
    /// The last time step a code was accepted for: no code is accepted twice.
    pub last_step: i64,
    pub failures: u32,
    pub locked_until: Option<i64>,
    pub version: u64,
}

impl Enrollment {
    pub fn locked(&self, now: OffsetDateTime) -> bool {
        self.locked_until.is_some_and(|t| t > now.unix_timestamp())
    }

    /// Check `code`: on success the step is consumed; on failure the failure count (and
    /// perhaps a lockout) is the new state. Either way the next version is returned to store.
    pub fn attempt(&self, secret: &[u8], code: &str, now: OffsetDateTime) -> (bool, Enrollment) {
        let mut next = self.clone();
        next.version += 1;
        if self.locked(now) {
            return (false, next);
        }
        match matching_step(secret, code, now).filter(|s| *s > self.last_step) {
            Some(step) => {
                next.last_step = step;
                next.failures = 0;
                next.locked_until = None;
                (true, next)
            }
            None => {
                next.failures += 1;
                if next.failures >= MAX_FAILURES {
                    next.locked_until = Some((now + LOCKOUT).unix_timestamp());
                    next.failures = 0;
                }
                (false, next)
            }
        }
    }

    pub fn write(&self, previous: Option<u64>) -> Write {
        let item = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Item::new(),
        };
        Write::Put {
            key: keys::mfa(&self.tenant_id, &self.user_id),
            index: None,
            item,
            condition: previous
                .map(Condition::VersionIs)
                .unwrap_or(Condition::NotExists),
        }
    }
}

/// A step-up proof: this user, in this sign-in, may perform this class of action until then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepUpProof {
    pub action_class: ActionClass,
    pub sign_in_id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub expires_at: OffsetDateTime,
}

impl StepUpProof {
    pub fn write(&self, tenant: &TenantId, user: &UserId) -> Write {
        let item = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Item::new(),
        };
        Write::Put {
            key: keys::step_up(tenant, user, self.action_class.as_str()),
            index: None,
            item,
            condition: Condition::None,
        }
    }

    pub fn valid_for(
        &self,
        sign_in_id: Option<&str>,
        class: ActionClass,
        now: OffsetDateTime,
    ) -> bool {
        self.action_class == class
            && Some(self.sign_in_id.as_str()) == sign_in_id
            && self.expires_at > now
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeInput {
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpInput {
    pub code: String,
    pub action_class: ActionClass,
}

/// What an owner/admin reset of a user's authenticator answers: the user has none now.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MfaReset {
    pub user_id: UserId,
    /// Always false after a reset: the user enrolls afresh (a first enrollment, so from a
    /// sign-in of the last 5 minutes).
    pub enrolled: bool,
}

/// What enrollment answers, once: the secret for the authenticator app.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EnrollmentSecret {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

pub fn step_up_required(class: ActionClass) -> ApiError {
    ApiError::StepUpRequired(class.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_test_vectors() {
        // RFC 6238 appendix B (SHA1, 8 digits there; the last 6 digits are the 6-digit code).
        let secret = b"12345678901234567890";
        for (t, expected) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(secret, t / 30).as_deref(), Some(expected), "t={t}");
        }
    }

    #[test]
    fn codes_are_single_use_and_failures_lock_out() {
        let secret = b"12345678901234567890";
        let now = OffsetDateTime::now_utc();
        let code = code_at(secret, step_of(now)).expect("code");
        let e = Enrollment {
            tenant_id: TenantId::parse("acme").expect("t"),
            user_id: UserId::parse("u").expect("u"),
            secret: SealedField::new(
                &totp_context(
                    &TenantId::parse("acme").expect("t"),
                    &UserId::parse("u").expect("u"),
                )
                .expect("context"),
                "k",
                b"k",
                &[0; 12],
                &[0; 16],
            ),
            confirmed: true,
            last_step: 0,
            failures: 0,
            locked_until: None,
            version: 1,
        };
        let (ok, e) = e.attempt(secret, &code, now);
        assert!(ok);
        let (again, mut e) = e.attempt(secret, &code, now);
        assert!(!again, "a code is never accepted twice");
        for _ in 0..MAX_FAILURES {
            e = e.attempt(secret, "000000", now).1;
        }
        assert!(e.locked(now));
        let next = code_at(secret, step_of(now) + 1).expect("code");
        assert!(
            !e.attempt(secret, &next, now).0,
            "locked out even with a good code"
        );
    }

    #[test]
    fn a_first_enrollment_needs_a_sign_in_from_the_last_five_minutes() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        let at = |ago: i64| Some(now.unix_timestamp() - ago);
        assert!(fresh_sign_in(at(0), now));
        assert!(fresh_sign_in(at(300), now), "exactly 5 minutes");
        assert!(!fresh_sign_in(at(301), now));
        assert!(!fresh_sign_in(at(3_600), now));
        assert!(fresh_sign_in(at(-60), now), "a minute of clock skew");
        assert!(!fresh_sign_in(at(-61), now));
        assert!(!fresh_sign_in(None, now), "no auth_time, no enrollment");
        assert!(!fresh_sign_in(Some(i64::MIN), now));
        assert!(!fresh_sign_in(Some(i64::MAX), now));
        assert!(matches!(
            require_fresh_sign_in(at(301), now),
            Err(ApiError::Unauthenticated(_))
        ));
    }

    #[test]
    fn owners_and_admins_are_told_to_enroll() {
        use crate::caller::Role;
        for role in Role::ALL {
            assert_eq!(
                enrollment_notice(role).is_some(),
                matches!(role, Role::Owner | Role::Admin),
                "{role}"
            );
        }
    }

    #[test]
    fn every_action_class_has_its_own_name() {
        let names: std::collections::BTreeSet<_> =
            ActionClass::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ActionClass::ALL.len());
        for c in ActionClass::ALL {
            assert_eq!(
                serde_json::to_value(c).expect("json"),
                serde_json::Value::String(c.as_str().into())
            );
        }
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }
}
