//! Signed provider webhooks: `t=<unix seconds>,v1=<hex HMAC-SHA256>` over `"<t>.<raw body>"`,
//! or, where the delivery acts in one tenant named outside the body (the telephony webhook's
//! URL), over `"<t>.<tenant>.<raw body>"`: a delivery signed for one tenant does not verify
//! at another tenant's URL.
//!
//! Verified on the raw bytes (never a re-serialization), compared in constant time, refused
//! outside a five-minute window (replays of old deliveries), and checked against every
//! configured secret so a secret can be rotated without dropping deliveries.
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header the sandbox provider signs with.
pub const SIGNATURE_HEADER: &str = "sandbox-signature";
/// How far a signature's timestamp may be from now, either way.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the signature header is missing")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature timestamp is outside the 5-minute tolerance")]
    Stale,
    #[error("no signature matches a configured secret")]
    Mismatch,
    #[error("no webhook secret is configured")]
    NoSecrets,
}

fn mac(secret: &[u8], timestamp: i64, scope: Option<&str>, body: &[u8]) -> Option<[u8; 32]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    // A scope (a tenant id) never holds a dot, so `t.scope.body` reads back one way only.
    if let Some(scope) = scope {
        mac.update(scope.as_bytes());
        mac.update(b".");
    }
    mac.update(body);
    Some(mac.finalize().into_bytes().into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(raw: &str) -> Option<[u8; 32]> {
    if raw.len() != 64 || !raw.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(raw.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The header value a provider sends for `body` at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    sign_scoped(secret, timestamp, None, body)
}

/// The header value for `body` at `timestamp`, bound to `scope` (a tenant id) when given.
pub fn sign_scoped(secret: &[u8], timestamp: i64, scope: Option<&str>, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, scope, body)
        .map(|d| hex(&d))
        .unwrap_or_default();
    format!("t={timestamp},v1={digest}")
}

/// Accept `body` only if `header` carries a current signature by one of `secrets`.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[Vec<u8>],
    now_unix: i64,
) -> Result<(), WebhookError> {
    verify_scoped(header, None, body, secrets, now_unix)
}

/// `verify`, for a signature bound to `scope` (`sign_scoped`).
pub fn verify_scoped(
    header: Option<&str>,
    scope: Option<&str>,
    body: &[u8],
    secrets: &[Vec<u8>],
    now_unix: i64,
) -> Result<(), WebhookError> {
    if scope.is_some_and(|s| s.contains('.')) {
        return Err(WebhookError::Malformed);
    }
    if secrets.is_empty() {
        return Err(WebhookError::NoSecrets);
    }
    let header = header.ok_or(WebhookError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => {
                timestamp = Some(v.parse::<i64>().map_err(|_| WebhookError::Malformed)?);
            }
            Some(("v1", v)) => signatures.push(unhex(v).ok_or(WebhookError::Malformed)?),
            // Other schemes (a future v2) are ignored, as providers document.
            Some(_) => {}
            None => return Err(WebhookError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::Malformed)?;
    if signatures.is_empty() {
        return Err(WebhookError::Malformed);
    }
    // Any i64 may arrive here: the distance is taken without overflow.
    if now_unix.abs_diff(timestamp) > TOLERANCE_SECONDS.unsigned_abs() {
        return Err(WebhookError::Stale);
    }
    // Every pair is compared (no early exit on the first match), each in constant time.
    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        let Some(expected) = mac(secret, timestamp, scope, body) else {
            continue;
        };
        for sig in &signatures {
            matched |= expected.ct_eq(sig);
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(WebhookError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000;

    fn secrets() -> Vec<Vec<u8>> {
        vec![b"whsec_new".to_vec(), b"whsec_old".to_vec()]
    }

    #[test]
    fn a_current_signature_by_any_configured_secret_is_accepted() {
        let body = br#"{"id":"evt_1"}"#;
        for secret in secrets() {
            let header = sign(&secret, NOW, body);
            assert_eq!(verify(Some(&header), body, &secrets(), NOW + 10), Ok(()));
        }
    }

    #[test]
    fn a_changed_body_or_an_unknown_secret_is_refused() {
        let body = br#"{"id":"evt_1","amount_minor":100}"#;
        let header = sign(b"whsec_new", NOW, body);
        let tampered = br#"{"id":"evt_1","amount_minor":900}"#;
        assert_eq!(
            verify(Some(&header), tampered, &secrets(), NOW),
            Err(WebhookError::Mismatch)
        );
        let forged = sign(b"whsec_attacker", NOW, body);
        assert_eq!(
            verify(Some(&forged), body, &secrets(), NOW),
            Err(WebhookError::Mismatch)
        );
        // Whitespace matters: the raw body is what was signed.
        let reformatted = br#"{"id": "evt_1","amount_minor":100}"#;
        assert_eq!(
            verify(Some(&header), reformatted, &secrets(), NOW),
            Err(WebhookError::Mismatch)
        );
    }

    #[test]
    fn old_or_future_timestamps_are_refused() {
        let body = b"{}";
        let header = sign(b"whsec_new", NOW, body);
        assert_eq!(verify(Some(&header), body, &secrets(), NOW + 300), Ok(()));
        assert_eq!(
            verify(Some(&header), body, &secrets(), NOW + 301),
            Err(WebhookError::Stale)
        );
        assert_eq!(
            verify(Some(&header), body, &secrets(), NOW - 301),
            Err(WebhookError::Stale)
        );
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        let body = b"{}";
        for t in [i64::MIN, i64::MAX, i64::MIN + 1, 0] {
            let header = sign(b"whsec_new", t, body);
            assert_eq!(
                verify(Some(&header), body, &secrets(), NOW),
                Err(WebhookError::Stale),
                "{t}"
            );
            for now in [i64::MIN, i64::MAX] {
                let near = (i128::from(now) - i128::from(t)).abs() <= 300;
                assert_eq!(
                    verify(Some(&header), body, &secrets(), now).is_ok(),
                    near,
                    "{t} at {now}"
                );
            }
        }
        let header = format!("t=-9223372036854775808,v1={}", "0".repeat(64));
        assert_eq!(
            verify(Some(&header), body, &secrets(), NOW),
            Err(WebhookError::Stale)
        );
    }

    #[test]
    fn a_scoped_signature_verifies_only_in_its_scope() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign_scoped(b"whsec_new", NOW, Some("acme"), body);
        assert_eq!(
            verify_scoped(Some(&header), Some("acme"), body, &secrets(), NOW),
            Ok(())
        );
        for other in [Some("globex"), Some("acm"), None] {
            assert_eq!(
                verify_scoped(Some(&header), other, body, &secrets(), NOW),
                Err(WebhookError::Mismatch),
                "{other:?}"
            );
        }
        // An unscoped signature does not verify in a scope either.
        let unscoped = sign(b"whsec_new", NOW, body);
        assert_eq!(
            verify_scoped(Some(&unscoped), Some("acme"), body, &secrets(), NOW),
            Err(WebhookError::Mismatch)
        );
        // Moving a dot between scope and body cannot make another delivery verify.
        assert_eq!(
            verify_scoped(Some(&header), Some("acme.x"), body, &secrets(), NOW),
            Err(WebhookError::Malformed)
        );
    }

    #[test]
    fn a_header_with_several_signatures_matches_if_one_does() {
        let body = b"{}";
        let good = sign(b"whsec_old", NOW, body);
        let v1 = good.split_once(",v1=").map(|(_, v)| v).unwrap_or_default();
        let header = format!("t={NOW},v1={},v1={v1}", "0".repeat(64));
        assert_eq!(verify(Some(&header), body, &secrets(), NOW), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let body = b"{}";
        for header in [
            "",
            "t=abc,v1=00",
            "v1=",
            &format!("t={NOW}"),
            &format!("t={NOW},v1=zz"),
            &format!("t={NOW},v1={}", "g".repeat(64)),
            "garbage",
        ] {
            assert!(
                matches!(
                    verify(Some(header), body, &secrets(), NOW),
                    Err(WebhookError::Malformed)
                ),
                "{header:?}"
            );
        }
        assert_eq!(
            verify(None, body, &secrets(), NOW),
            Err(WebhookError::Missing)
        );
        let header = sign(b"whsec_new", NOW, body);
        assert_eq!(
            verify(Some(&header), body, &[], NOW),
            Err(WebhookError::NoSecrets)
        );
    }
}
