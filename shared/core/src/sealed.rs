//! Sealed fields: the stored form of every sensitive field (TOTP secrets, employee tax ids,
//! bank details, later provider tokens). Envelope encryption: a fresh KMS data key (AES-256)
//! per field, generated under the encryption context {tenant_id, purpose, record}; the field
//! is encrypted locally with AES-256-GCM under associated data that binds the same three
//! values and the format version. Only the KMS-encrypted data key is stored.
//!
//! What binds a sealed field to its place, twice over:
//! - KMS: the data key decrypts only under the same encryption context, and the tenant
//!   role's policy lets a session use the key only with its own `tenant_id` in the context
//!   (the local policy guard evaluates that same statement);
//! - AEAD: the associated data names tenant, purpose and record, so a ciphertext copied to
//!   another record, purpose or tenant fails authentication even with the right data key.
//!
//! This module is the pure part: the format, the associated data and the context. The
//! KMS/AES adapter lives in `fieldvault-aws` (`fields.rs`) behind [`FieldCipher`].
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::ids::TenantId;

/// The one format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The one algorithm of format version 1.
pub const ALGORITHM: &str = "AES-256-GCM";
/// AES-GCM nonce and tag sizes.
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// Data keys are AES-256.
pub const DATA_KEY_LEN: usize = 32;

const AAD_LABEL: &[u8] = b"fieldvault/sealed-field";

/// Why a field could not be sealed or opened. Never carries plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed field: unsupported format version {0}")]
    UnsupportedVersion(u32),
    #[error("sealed field: unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("sealed field: it was sealed for purpose {found:?}, not {expected:?}")]
    PurposeMismatch { expected: String, found: String },
    #[error("sealed field: malformed {0}")]
    Malformed(&'static str),
    #[error("sealed field: invalid context: {0}")]
    InvalidContext(&'static str),
    /// The data key could not be generated or decrypted (KMS refused: wrong context, wrong
    /// tenant, no permission; or KMS is unavailable).
    #[error("sealed field: data key: {0}")]
    DataKey(String),
    /// AES-GCM authentication failed: tampered, or moved from another tenant, purpose or record.
    #[error("sealed field: authentication failed")]
    Authentication,
}

/// Where a field lives: the tenant, what it is for, and which record holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct FieldContext {
    tenant: TenantId,
    purpose: String,
    record: String,
}

impl fmt::Debug for FieldContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.tenant, self.purpose, self.record)
    }
}

impl FieldContext {
    /// `purpose`: lowercase ASCII letters, digits, `.` and `_` (e.g. `hr.tax_id`);
    /// `record`: the id of the record that holds the field (1..=200 visible ASCII characters).
    pub fn new(tenant: &TenantId, purpose: &str, record: &str) -> Result<FieldContext, SealError> {
        let purpose_ok = !purpose.is_empty()
            && purpose.len() <= 64
            && purpose
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
        if !purpose_ok {
            return Err(SealError::InvalidContext("purpose"));
        }
        let record_ok = !record.is_empty()
            && record.len() <= 200
            && record.bytes().all(|b| b.is_ascii_graphic());
        if !record_ok {
            return Err(SealError::InvalidContext("record"));
        }
        Ok(FieldContext {
            tenant: tenant.clone(),
            purpose: purpose.to_owned(),
            record: record.to_owned(),
        })
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }
    pub fn purpose(&self) -> &str {
        &self.purpose
    }
    pub fn record(&self) -> &str {
        &self.record
    }

    /// The KMS encryption context of the field's data key. `tenant_id` is what the tenant
    /// role's policy matches against the session's tag.
    pub fn encryption_context(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("tenant_id".to_owned(), self.tenant.to_string()),
            ("purpose".to_owned(), self.purpose.clone()),
            ("record".to_owned(), self.record.clone()),
        ])
    }

    /// The AES-GCM associated data: a label, the format version, then tenant, purpose and
    /// record, each length-prefixed (so no two contexts share an encoding).
    pub fn aad(&self, version: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(AAD_LABEL);
        out.extend_from_slice(&version.to_be_bytes());
        for part in [self.tenant.as_str(), &self.purpose, &self.record] {
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// A sealed field as stored (a map inside the record's item). Binary parts are base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedField {
    /// Format version ([`FORMAT_VERSION`]).
    pub v: u32,
    /// [`ALGORITHM`].
    pub alg: String,
    /// The KMS key that encrypted the data key (as KMS named it).
    pub key_id: String,
    /// The purpose of the encryption context (also bound in the associated data).
    pub purpose: String,
    /// The KMS-encrypted data key.
    pub edk: String,
    /// The 96-bit AES-GCM nonce.
    pub nonce: String,
    /// AES-256-GCM ciphertext with its 128-bit tag appended.
    pub ct: String,
}

impl fmt::Debug for SealedField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedField(v{}, {})", self.v, self.purpose)
    }
}

/// The decoded parts of a sealed field that passed [`SealedField::check`].
pub struct SealedParts {
    pub edk: Vec<u8>,
    pub nonce: [u8; NONCE_LEN],
    pub ct: Vec<u8>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl SealedField {
    /// Assemble a version-1 sealed field from its parts.
    pub fn new(
        cx: &FieldContext,
        key_id: &str,
        edk: &[u8],
        nonce: &[u8; NONCE_LEN],
        ct: &[u8],
    ) -> SealedField {
        SealedField {
            v: FORMAT_VERSION,
            alg: ALGORITHM.to_owned(),
            key_id: key_id.to_owned(),
            purpose: cx.purpose.clone(),
            edk: b64().encode(edk),
            nonce: b64().encode(nonce),
            ct: b64().encode(ct),
        }
    }

    /// Check the format (version, algorithm, the purpose it was sealed for) against where it
    /// is being opened, and decode its parts. Authentication is the AEAD's job after this.
    pub fn check(&self, cx: &FieldContext) -> Result<SealedParts, SealError> {
        if self.v != FORMAT_VERSION {
            return Err(SealError::UnsupportedVersion(self.v));
        }
        if self.alg != ALGORITHM {
            return Err(SealError::UnsupportedAlgorithm(self.alg.clone()));
        }
        if self.purpose != cx.purpose {
            return Err(SealError::PurposeMismatch {
                expected: cx.purpose.clone(),
                found: self.purpose.clone(),
            });
        }
        let edk = b64()
            .decode(&self.edk)
            .ok()
            .filter(|k| !k.is_empty())
            .ok_or(SealError::Malformed("edk"))?;
        let nonce: [u8; NONCE_LEN] = b64()
            .decode(&self.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(SealError::Malformed("nonce"))?;
        let ct = b64()
            .decode(&self.ct)
            .ok()
            .filter(|c| c.len() >= TAG_LEN)
            .ok_or(SealError::Malformed("ct"))?;
        Ok(SealedParts { edk, nonce, ct })
    }
}

/// Seals and opens fields. The product's implementation is KMS + AES-256-GCM
/// (`fieldvault_aws::fields::Envelope`); handler unit tests use a fake.
pub trait FieldCipher: Send + Sync {
    fn seal(
        &self,
        cx: &FieldContext,
        plaintext: &[u8],
    ) -> impl Future<Output = Result<SealedField, SealError>> + Send;
    fn open(
        &self,
        cx: &FieldContext,
        sealed: &SealedField,
    ) -> impl Future<Output = Result<Vec<u8>, SealError>> + Send;
}

/// A cipher for handler unit tests: NOT encryption (the plaintext is only reversed and
/// base64-encoded), but it checks context and format like the real one, so handlers can be
/// tested without KMS. Only built with the `memory` feature (tests).
#[cfg(any(test, feature = "memory"))]
pub struct FakeCipher;

#[cfg(any(test, feature = "memory"))]
impl FieldCipher for FakeCipher {
    async fn seal(&self, cx: &FieldContext, plaintext: &[u8]) -> Result<SealedField, SealError> {
        let mut ct: Vec<u8> = plaintext.iter().rev().copied().collect();
        ct.extend_from_slice(&[0; TAG_LEN]);
        let aad = cx.aad(FORMAT_VERSION);
        Ok(SealedField::new(cx, "fake", &aad, &[0; NONCE_LEN], &ct))
    }

    async fn open(&self, cx: &FieldContext, sealed: &SealedField) -> Result<Vec<u8>, SealError> {
        let parts = sealed.check(cx)?;
        if parts.edk != cx.aad(FORMAT_VERSION) {
            return Err(SealError::Authentication);
        }
        let body = &parts.ct[..parts.ct.len() - TAG_LEN];
        Ok(body.iter().rev().copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).expect("tenant")
    }

    fn cx(tenant: &str, purpose: &str, record: &str) -> FieldContext {
        FieldContext::new(&t(tenant), purpose, record).expect("context")
    }

    #[test]
    fn the_associated_data_binds_tenant_purpose_record_and_version() {
        let base = cx("acme", "hr.tax_id", "u-1");
        let others = [
            cx("other", "hr.tax_id", "u-1"),
            cx("acme", "hr.bank_account", "u-1"),
            cx("acme", "hr.tax_id", "u-2"),
        ];
        for o in &others {
            assert_ne!(base.aad(1), o.aad(1), "{o:?}");
        }
        assert_ne!(base.aad(1), base.aad(2), "the version is bound");
        // Length prefixes: moving a boundary changes the encoding.
        assert_ne!(
            cx("acme-ab", "c", "d").aad(1),
            cx("acme-a", "bc", "d").aad(1)
        );
        assert_ne!(cx("acme", "b", "cd").aad(1), cx("acme", "bc", "d").aad(1));
    }

    #[test]
    fn the_encryption_context_names_the_tenant_first_for_iam() {
        let c = cx("acme", "totp", "u-1").encryption_context();
        assert_eq!(c["tenant_id"], "acme");
        assert_eq!(c["purpose"], "totp");
        assert_eq!(c["record"], "u-1");
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn contexts_refuse_odd_purposes_and_records() {
        for bad in ["", "HR", "hr tax", "hr#x", &"x".repeat(65)] {
            assert!(FieldContext::new(&t("acme"), bad, "r").is_err(), "{bad:?}");
        }
        for bad in ["", "a b", "a\nb", &"x".repeat(201)] {
            assert!(FieldContext::new(&t("acme"), "p", bad).is_err(), "{bad:?}");
        }
    }

    fn sample(c: &FieldContext) -> SealedField {
        SealedField::new(c, "key-1", b"wrapped", &[7; NONCE_LEN], &[1; 20])
    }

    #[test]
    fn the_format_is_versioned_and_checked_before_decryption() {
        let c = cx("acme", "hr.tax_id", "u-1");
        let good = sample(&c);
        assert!(good.check(&c).is_ok());
        let json = serde_json::to_value(&good).expect("json");
        assert_eq!(json["v"], 1);
        assert_eq!(json["alg"], "AES-256-GCM");
        assert_eq!(json["purpose"], "hr.tax_id");
        let back: SealedField = serde_json::from_value(json.clone()).expect("parse");
        assert_eq!(back, good);

        let mut v2 = good.clone();
        v2.v = 2;
        assert_eq!(v2.check(&c).err(), Some(SealError::UnsupportedVersion(2)));
        let mut alg = good.clone();
        alg.alg = "AES-128-GCM".into();
        assert!(matches!(
            alg.check(&c),
            Err(SealError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            good.check(&cx("acme", "hr.bank_account", "u-1")),
            Err(SealError::PurposeMismatch { .. })
        ));
        let mut nonce = good.clone();
        nonce.nonce = b64().encode([0u8; 8]);
        assert_eq!(nonce.check(&c).err(), Some(SealError::Malformed("nonce")));
        let mut short = good.clone();
        short.ct = b64().encode([0u8; 4]);
        assert_eq!(short.check(&c).err(), Some(SealError::Malformed("ct")));
        let mut junk = good.clone();
        junk.edk = "***".into();
        assert_eq!(junk.check(&c).err(), Some(SealError::Malformed("edk")));
        // Unknown fields are refused: a record cannot smuggle in a second format.
        let mut extra = json;
        extra["plaintext"] = "123".into();
        assert!(serde_json::from_value::<SealedField>(extra).is_err());
    }

    #[test]
    fn debug_output_shows_no_material() {
        let c = cx("acme", "hr.tax_id", "u-1");
        let shown = format!("{:?}", sample(&c));
        assert!(!shown.contains(&sample(&c).ct));
        assert!(!shown.contains(&sample(&c).edk));
    }

    #[tokio::test]
    async fn the_fake_cipher_checks_context_like_the_real_one() {
        let c = cx("acme", "hr.tax_id", "u-1");
        let sealed = FakeCipher.seal(&c, b"123-45-6789").await.expect("seal");
        assert_eq!(
            FakeCipher.open(&c, &sealed).await.expect("open"),
            b"123-45-6789"
        );
        assert!(FakeCipher
            .open(&cx("acme", "hr.tax_id", "u-2"), &sealed)
            .await
            .is_err());
        assert!(FakeCipher
            .open(&cx("other", "hr.tax_id", "u-1"), &sealed)
            .await
            .is_err());
    }
}
