//! MFA step-up: TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, ±1 step of clock skew)
//! enrolled through the API with the secret encrypted under the tenant's KMS context, and a
//! step-up proof bound to the user's sign-in and an action class, valid for 5 minutes.
//! A code is never accepted twice; five failures lock step-up for 15 minutes.
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
}

impl ActionClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionClass::BillingCorrections => "billing_corrections",
            ActionClass::UserManagement => "user_management",
            ActionClass::AccountingExports => "accounting_exports",
            ActionClass::HrRecords => "hr_records",
        }
    }
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
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }
}
