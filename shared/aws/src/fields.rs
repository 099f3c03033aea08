//! Envelope encryption of sensitive fields: a KMS data key per field (AES-256, generated under
//! the encryption context {tenant_id, purpose, record}), AES-256-GCM locally with
//! `aws-lc-rs` (the crypto library the SDK's TLS already uses), associated data from
//! `fieldvault_core::sealed`. The format and its checks are in core; this is the adapter.
use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use fieldvault_core::sealed::{
    FieldCipher, FieldContext, SealError, SealedField, DATA_KEY_LEN, FORMAT_VERSION, NONCE_LEN,
};

/// A plaintext data key, wiped when dropped.
pub struct DataKeyBytes(Vec<u8>);

impl DataKeyBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        DataKeyBytes(bytes)
    }
    fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for DataKeyBytes {
    fn drop(&mut self) {
        self.0.fill(0);
        // Keep the wipe from being optimized away as a dead store.
        std::hint::black_box(&self.0);
    }
}

/// A fresh data key: its plaintext (used once, then dropped) and its KMS-encrypted form.
pub struct NewDataKey {
    pub plaintext: DataKeyBytes,
    pub encrypted: Vec<u8>,
    pub key_id: String,
}

/// Where data keys come from: KMS in the product, an in-process fake in unit tests.
pub trait DataKeys: Send + Sync {
    fn generate(
        &self,
        context: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<NewDataKey, SealError>> + Send;
    fn decrypt(
        &self,
        encrypted: &[u8],
        context: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<DataKeyBytes, SealError>> + Send;
}

/// KMS data keys under one key (the stack's `DataKey`), through a tenant session's client:
/// the tenant role's policy (and locally the guard) lets it use the key only with its own
/// tenant in the encryption context.
pub struct KmsDataKeys {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsDataKeys {
    pub fn new(client: aws_sdk_kms::Client, key_id: String) -> Self {
        KmsDataKeys { client, key_id }
    }
}

fn kms_context(context: &BTreeMap<String, String>) -> HashMap<String, String> {
    context
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl DataKeys for KmsDataKeys {
    async fn generate(&self, context: &BTreeMap<String, String>) -> Result<NewDataKey, SealError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
            .set_encryption_context(Some(kms_context(context)))
            .send()
            .await
            .map_err(|e| {
                SealError::DataKey(format!("{}", aws_sdk_kms::error::DisplayErrorContext(e)))
            })?;
        let plaintext = out
            .plaintext
            .map(|b| DataKeyBytes::new(b.into_inner()))
            .filter(|k| k.as_slice().len() == DATA_KEY_LEN)
            .ok_or_else(|| SealError::DataKey("KMS returned no 256-bit data key".into()))?;
        let encrypted = out
            .ciphertext_blob
            .map(|b| b.into_inner())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| SealError::DataKey("KMS returned no encrypted data key".into()))?;
        Ok(NewDataKey {
            plaintext,
            encrypted,
            key_id: out.key_id.unwrap_or_else(|| self.key_id.clone()),
        })
    }

    async fn decrypt(
        &self,
        encrypted: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<DataKeyBytes, SealError> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(aws_smithy_types::Blob::new(encrypted))
            .set_encryption_context(Some(kms_context(context)))
            .send()
            .await
            .map_err(|e| {
                SealError::DataKey(format!("{}", aws_sdk_kms::error::DisplayErrorContext(e)))
            })?;
        out.plaintext
            .map(|b| DataKeyBytes::new(b.into_inner()))
            .filter(|k| k.as_slice().len() == DATA_KEY_LEN)
            .ok_or_else(|| SealError::DataKey("KMS returned no 256-bit data key".into()))
    }
}

/// Envelope encryption over a source of data keys.
pub struct Envelope<K> {
    keys: K,
}

impl<K: DataKeys> Envelope<K> {
    pub fn new(keys: K) -> Self {
        Envelope { keys }
    }
}

fn aead_key(key: &DataKeyBytes) -> Result<LessSafeKey, SealError> {
    UnboundKey::new(&AES_256_GCM, key.as_slice())
        .map(LessSafeKey::new)
        .map_err(|_| SealError::DataKey("the data key is not an AES-256 key".into()))
}

impl<K: DataKeys> FieldCipher for Envelope<K> {
    async fn seal(&self, cx: &FieldContext, plaintext: &[u8]) -> Result<SealedField, SealError> {
        let data_key = self.keys.generate(&cx.encryption_context()).await?;
        let key = aead_key(&data_key.plaintext)?;
        // A fresh data key per field, so one nonce per key: random is more than enough.
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| SealError::DataKey("no randomness for the nonce".into()))?;
        let mut buffer = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(cx.aad(FORMAT_VERSION)),
            &mut buffer,
        )
        .map_err(|_| SealError::Authentication)?;
        Ok(SealedField::new(
            cx,
            &data_key.key_id,
            &data_key.encrypted,
            &nonce,
            &buffer,
        ))
    }

    async fn open(&self, cx: &FieldContext, sealed: &SealedField) -> Result<Vec<u8>, SealError> {
        let parts = sealed.check(cx)?;
        let data_key = self
            .keys
            .decrypt(&parts.edk, &cx.encryption_context())
            .await?;
        let key = aead_key(&data_key)?;
        let mut buffer = parts.ct;
        let plaintext = key
            .open_in_place(
                Nonce::assume_unique_for_key(parts.nonce),
                Aad::from(cx.aad(sealed.v)),
                &mut buffer,
            )
            .map_err(|_| SealError::Authentication)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use fieldvault_core::ids::TenantId;
    use std::sync::Mutex;

    /// Data keys kept in memory. With `check_context` it refuses another context like KMS;
    /// without, the AEAD's associated data is the only thing that binds a field.
    /// A data key and the context it was generated under.
    type Stored = (Vec<u8>, BTreeMap<String, String>);

    struct FakeKeys {
        check_context: bool,
        keys: Mutex<Vec<Stored>>,
    }

    impl FakeKeys {
        fn new(check_context: bool) -> Self {
            FakeKeys {
                check_context,
                keys: Mutex::new(Vec::new()),
            }
        }
    }

    impl DataKeys for FakeKeys {
        async fn generate(
            &self,
            context: &BTreeMap<String, String>,
        ) -> Result<NewDataKey, SealError> {
            let mut key = vec![0u8; DATA_KEY_LEN];
            aws_lc_rs::rand::fill(&mut key).map_err(|_| SealError::Authentication)?;
            let mut keys = self.keys.lock().map_err(|_| SealError::Authentication)?;
            keys.push((key.clone(), context.clone()));
            Ok(NewDataKey {
                plaintext: DataKeyBytes::new(key),
                encrypted: vec![u8::try_from(keys.len() - 1).unwrap_or(0)],
                key_id: "fake-key".into(),
            })
        }
        async fn decrypt(
            &self,
            encrypted: &[u8],
            context: &BTreeMap<String, String>,
        ) -> Result<DataKeyBytes, SealError> {
            let keys = self.keys.lock().map_err(|_| SealError::Authentication)?;
            let (key, ctx) = keys
                .get(usize::from(encrypted[0]))
                .ok_or_else(|| SealError::DataKey("unknown".into()))?;
            if self.check_context && ctx != context {
                return Err(SealError::DataKey("InvalidCiphertextException".into()));
            }
            Ok(DataKeyBytes::new(key.clone()))
        }
    }

    fn cx(tenant: &str, purpose: &str, record: &str) -> FieldContext {
        FieldContext::new(&TenantId::parse(tenant).expect("tenant"), purpose, record)
            .expect("context")
    }

    #[tokio::test]
    async fn a_sealed_field_opens_only_where_it_was_sealed() {
        let envelope = Envelope::new(FakeKeys::new(false));
        let home = cx("acme", "hr.tax_id", "hr/u-1");
        let sealed = envelope.seal(&home, b"123456789").await.expect("seal");
        assert_eq!(
            envelope.open(&home, &sealed).await.expect("open"),
            b"123456789"
        );
        let b64 = base64::engine::general_purpose::STANDARD;
        assert!(!String::from_utf8_lossy(&b64.decode(&sealed.ct).expect("ct")).contains("1234"));

        // Moved to another record, tenant or (with its purpose label rewritten) purpose: the
        // data key still decrypts here (this fake ignores the context), the AEAD refuses.
        for elsewhere in [
            cx("acme", "hr.tax_id", "hr/u-2"),
            cx("other", "hr.tax_id", "hr/u-1"),
        ] {
            assert_eq!(
                envelope.open(&elsewhere, &sealed).await.err(),
                Some(SealError::Authentication),
                "{elsewhere:?}"
            );
        }
        let bank = cx("acme", "hr.bank_account", "hr/u-1");
        assert!(matches!(
            envelope.open(&bank, &sealed).await,
            Err(SealError::PurposeMismatch { .. })
        ));
        let mut relabelled = sealed.clone();
        relabelled.purpose = "hr.bank_account".into();
        assert_eq!(
            envelope.open(&bank, &relabelled).await.err(),
            Some(SealError::Authentication)
        );
    }

    #[tokio::test]
    async fn tampering_and_unknown_versions_fail() {
        let envelope = Envelope::new(FakeKeys::new(false));
        let home = cx("acme", "totp", "user/u-1");
        let sealed = envelope.seal(&home, b"secret-bytes").await.expect("seal");
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut ct = b64.decode(&sealed.ct).expect("ct");
        ct[0] ^= 1;
        let mut flipped = sealed.clone();
        flipped.ct = b64.encode(&ct);
        assert_eq!(
            envelope.open(&home, &flipped).await.err(),
            Some(SealError::Authentication)
        );
        let mut nonce = sealed.clone();
        nonce.nonce = b64.encode([9u8; NONCE_LEN]);
        assert_eq!(
            envelope.open(&home, &nonce).await.err(),
            Some(SealError::Authentication)
        );
        let mut v2 = sealed.clone();
        v2.v = 2;
        assert_eq!(
            envelope.open(&home, &v2).await.err(),
            Some(SealError::UnsupportedVersion(2))
        );
        // Two seals of the same value differ (fresh key and nonce).
        let again = envelope.seal(&home, b"secret-bytes").await.expect("seal");
        assert_ne!(again.ct, sealed.ct);
    }

    #[tokio::test]
    async fn the_data_key_is_bound_to_its_context_too() {
        let envelope = Envelope::new(FakeKeys::new(true));
        let home = cx("acme", "hr.tax_id", "hr/u-1");
        let sealed = envelope.seal(&home, b"987654321").await.expect("seal");
        assert!(matches!(
            envelope
                .open(&cx("other", "hr.tax_id", "hr/u-1"), &sealed)
                .await,
            Err(SealError::DataKey(_))
        ));
        assert!(envelope.open(&home, &sealed).await.is_ok());
    }
}
