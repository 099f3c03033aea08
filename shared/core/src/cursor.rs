//! Opaque pagination cursors: the store's last key, bound to the list it came from and
//! MACed, so a client can neither forge a position nor replay another list's cursor.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::problem::ApiError;
use crate::store::PageKey;

type HmacSha256 = Hmac<Sha256>;

/// The secret that signs cursors (at least 32 bytes).
#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

impl CursorKey {
    pub fn new(secret: &[u8]) -> Option<CursorKey> {
        (secret.len() >= 32).then(|| CursorKey(secret.to_vec()))
    }

    fn mac(&self, scope: &str, payload: &[u8]) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(&self.0).ok()?;
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        Some(mac)
    }

    /// `scope` names the list (its partition, which includes the tenant).
    pub fn encode(&self, scope: &str, key: &PageKey) -> String {
        let payload = serde_json::to_vec(key).unwrap_or_default();
        let tag = self
            .mac(scope, &payload)
            .map(|m| m.finalize().into_bytes().to_vec())
            .unwrap_or_default();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    pub fn decode(&self, scope: &str, cursor: &str) -> Result<PageKey, ApiError> {
        let bad = || ApiError::invalid_field("cursor", "is not a cursor from this list");
        let (payload, tag) = cursor.split_once('.').ok_or_else(bad)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        let mac = self.mac(scope, &payload).ok_or_else(bad)?;
        mac.verify_slice(&tag).map_err(|_| bad())?;
        serde_json::from_slice(&payload).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_lists_and_tampering() {
        let key = CursorKey::new(&[7; 32]).expect("key");
        let mut page = PageKey::new();
        page.insert("pk".into(), "T#a#CUST#1".into());
        let c = key.encode("T#a#CUSTOMERS", &page);
        assert_eq!(key.decode("T#a#CUSTOMERS", &c), Ok(page));
        assert!(key.decode("T#b#CUSTOMERS", &c).is_err());
        let mut tampered = c.clone();
        tampered.replace_range(0..1, if c.starts_with('a') { "b" } else { "a" });
        assert!(key.decode("T#a#CUSTOMERS", &tampered).is_err());
        assert!(CursorKey::new(b"short").is_none());
    }
}
