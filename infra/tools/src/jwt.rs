//! Verifies Cognito tokens as API Gateway's HTTP API JWT authorizer does: RS256 signature by
//! a key from the pool's JWKS, `iss`, `exp`/`nbf`, and the audience (`aud` for id tokens,
//! `client_id` for access tokens). Anything else about the token is the handler's business
//! (it refuses id tokens), exactly as in AWS.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::value::RawValue;
use serde_json::Value;

pub struct JwtVerifier {
    issuer: String,
    audiences: Vec<String>,
    jwks_url: String,
    /// The JWKS's RS256 keys by `kid`, parsed once (the RSA key set up for verifying, not
    /// rebuilt from its modulus and exponent at every request).
    keys: RwLock<HashMap<String, Arc<ParsedPublicKey>>>,
    /// Tokens whose signature has checked out against the current key set.
    verified: Mutex<VerifiedTokens>,
    http: reqwest::Client,
}

/// Tokens whose RS256 signature checked out, by their exact text, with their claims, so a
/// token seen again skips the RSA operation (as Envoy's `jwt_authn` can cache verified
/// tokens). Only the signature is remembered: expiry, not-before, issuer and audience are
/// checked again at every use. Emptied whenever the key set is reloaded, and bounded.
#[derive(Default)]
struct VerifiedTokens {
    by_token: HashMap<String, Arc<Verified>>,
}

/// A token's claims once its signature checked out, and the same claims as the authorizer
/// forwards them to a Lambda (`stringify_claims`), as JSON: written once per token, not once
/// per request. Reads as the claims.
#[derive(Debug)]
pub struct Verified {
    claims: serde_json::Map<String, Value>,
    forwarded: Box<RawValue>,
}

impl Verified {
    fn new(claims: serde_json::Map<String, Value>) -> Result<Verified, JwtError> {
        let forwarded = serde_json::value::to_raw_value(&stringify_claims(&claims))
            .map_err(|e| JwtError::Malformed(e.to_string()))?;
        Ok(Verified { claims, forwarded })
    }

    /// The claims as the authorizer hands them to the function (every value a string).
    pub fn forwarded(&self) -> &RawValue {
        &self.forwarded
    }
}

impl std::ops::Deref for Verified {
    type Target = serde_json::Map<String, Value>;
    fn deref(&self) -> &Self::Target {
        &self.claims
    }
}

impl VerifiedTokens {
    /// More distinct live tokens than a local stack (or the benchmark) ever holds.
    const CAPACITY: usize = 4096;

    fn get(&self, token: &str) -> Option<Arc<Verified>> {
        self.by_token.get(token).cloned()
    }

    fn insert(&mut self, token: &str, claims: Arc<Verified>, now: i64) {
        if self.by_token.len() >= Self::CAPACITY {
            // Expired tokens go first; if every one is live, start over.
            self.by_token.retain(|_, c| {
                c.get("exp")
                    .and_then(Value::as_i64)
                    .is_some_and(|e| e >= now)
            });
            if self.by_token.len() >= Self::CAPACITY {
                self.by_token.clear();
            }
        }
        self.by_token.insert(token.to_owned(), claims);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("no bearer token")]
    Missing,
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("unknown signing key")]
    UnknownKey,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("token audience is not allowed")]
    Audience,
    #[error("cannot fetch JWKS: {0}")]
    Jwks(String),
}

impl JwtVerifier {
    pub fn new(issuer: String, audiences: Vec<String>, jwks_url: String) -> Self {
        Self {
            issuer,
            audiences,
            jwks_url,
            keys: RwLock::new(HashMap::new()),
            verified: Mutex::new(VerifiedTokens::default()),
            http: {
                fieldvault_aws::install_tls_provider();
                reqwest::Client::new()
            },
        }
    }

    async fn refresh(&self) -> Result<(), JwtError> {
        let doc: Value = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .map_err(|e| JwtError::Jwks(e.to_string()))?
            .json()
            .await
            .map_err(|e| JwtError::Jwks(e.to_string()))?;
        let mut keys = HashMap::new();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        for k in doc["keys"].as_array().into_iter().flatten() {
            if let (Some(kid), Some(n), Some(e)) =
                (k["kid"].as_str(), k["n"].as_str(), k["e"].as_str())
            {
                let (Ok(n), Ok(e)) = (b64.decode(n), b64.decode(e)) else {
                    continue;
                };
                let components = RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                };
                if let Ok(key) = components.to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256) {
                    keys.insert(kid.to_owned(), Arc::new(key));
                }
            }
        }
        if let Ok(mut slot) = self.keys.write() {
            *slot = keys;
        }
        // A key may have gone: nothing verified with the old set is trusted any longer.
        self.forget_verified();
        Ok(())
    }

    /// Forget every verified token (the next use of each is verified from scratch).
    pub fn forget_verified(&self) {
        if let Ok(mut v) = self.verified.lock() {
            v.by_token.clear();
        }
    }

    fn key(&self, kid: &str) -> Option<Arc<ParsedPublicKey>> {
        self.keys.read().ok()?.get(kid).cloned()
    }

    /// Verify `Authorization: Bearer <token>` (the prefix is optional, as in API Gateway) and
    /// return the token's claims.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<Arc<Verified>, JwtError> {
        let raw = authorization.ok_or(JwtError::Missing)?.trim();
        let token = raw
            .strip_prefix("Bearer ")
            .or_else(|| raw.strip_prefix("bearer "))
            .unwrap_or(raw)
            .trim();
        if token.is_empty() {
            return Err(JwtError::Missing);
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let seen = self.verified.lock().ok().and_then(|v| v.get(token));
        if let Some(claims) = seen {
            self.admit(&claims, now)?;
            return Ok(claims);
        }
        // Header and claims, read once; neither is trusted before the signature checks out.
        let data =
            jsonwebtoken::dangerous::insecure_decode::<serde_json::Map<String, Value>>(token)
                .map_err(|e| JwtError::Malformed(e.to_string()))?;
        if data.header.alg != Algorithm::RS256 {
            return Err(JwtError::Malformed("only RS256 is accepted".into()));
        }
        let kid = data
            .header
            .kid
            .as_deref()
            .ok_or_else(|| JwtError::Malformed("no kid".into()))?;
        let key = match self.key(kid) {
            Some(k) => k,
            None => {
                self.refresh().await?;
                self.key(kid).ok_or(JwtError::UnknownKey)?
            }
        };
        // The RS256 signature over `<header>.<payload>` ...
        let (message, signature) = token
            .rsplit_once('.')
            .ok_or_else(|| JwtError::Malformed("not three parts".into()))?;
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JwtError::Malformed("signature is not base64url".into()))?;
        key.verify_sig(message.as_bytes(), &signature)
            .map_err(|_| JwtError::Invalid("InvalidSignature".into()))?;
        // ... then the claims it signs.
        self.admit(&data.claims, now)?;
        let claims = Arc::new(Verified::new(data.claims)?);
        if let Ok(mut v) = self.verified.lock() {
            v.insert(token, claims.clone(), now);
        }
        Ok(claims)
    }

    /// What a signed token's claims must say at `now`: issuer, expiry, not-before, subject
    /// (`check_claims`), and an allowed audience.
    fn admit(&self, claims: &serde_json::Map<String, Value>, now: i64) -> Result<(), JwtError> {
        check_claims(claims, &self.issuer, now)?;
        let audience = claims
            .get("client_id")
            .or_else(|| claims.get("aud"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !self.audiences.iter().any(|a| a == audience) {
            return Err(JwtError::Audience);
        }
        Ok(())
    }
}

/// The registered claims API Gateway's JWT authorizer checks (no leeway): `iss` is the
/// pool's, `exp` is present and not past, `nbf` (if present) not in the future, `sub` present.
fn check_claims(
    claims: &serde_json::Map<String, Value>,
    issuer: &str,
    now: i64,
) -> Result<(), JwtError> {
    let time = |name: &str| claims.get(name).map(|v| v.as_f64().map(|t| t as i64));
    match time("exp") {
        None => return Err(JwtError::Invalid("no exp".into())),
        Some(None) => return Err(JwtError::Invalid("exp is not a number".into())),
        Some(Some(exp)) if exp < now => return Err(JwtError::Invalid("expired".into())),
        Some(Some(_)) => {}
    }
    match time("nbf") {
        Some(None) => return Err(JwtError::Invalid("nbf is not a number".into())),
        Some(Some(nbf)) if nbf > now => return Err(JwtError::Invalid("not yet valid".into())),
        _ => {}
    }
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(JwtError::Invalid("wrong issuer".into()));
    }
    if !claims.get("sub").is_some_and(Value::is_string) {
        return Err(JwtError::Invalid("no sub".into()));
    }
    Ok(())
}

/// Claims as API Gateway hands them to a Lambda: every value a string, arrays as `[a b]`.
pub fn stringify_claims(claims: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    claims
        .iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Array(items) => format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|i| i
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| i.to_string()))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => other.to_string(),
            };
            (k.clone(), Value::String(s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_claims_are_checked_without_leeway() {
        let iss = "https://cognito-idp.us-east-1.amazonaws.com/pool";
        let claims = |v: Value| v.as_object().cloned().expect("object");
        let good = serde_json::json!({"iss": iss, "sub": "u", "exp": 100, "nbf": 50});
        assert!(check_claims(&claims(good.clone()), iss, 100).is_ok());
        assert!(
            check_claims(&claims(good.clone()), iss, 101).is_err(),
            "expired"
        );
        assert!(
            check_claims(&claims(good.clone()), iss, 49).is_err(),
            "not yet valid"
        );
        assert!(
            check_claims(&claims(good), "https://other", 60).is_err(),
            "issuer"
        );
        for missing in ["exp", "iss", "sub"] {
            let mut c = claims(serde_json::json!({"iss": iss, "sub": "u", "exp": 100}));
            c.remove(missing);
            assert!(check_claims(&c, iss, 60).is_err(), "without {missing}");
        }
        let text_exp = serde_json::json!({"iss": iss, "sub": "u", "exp": "100"});
        assert!(check_claims(&claims(text_exp), iss, 60).is_err());
    }

    const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/pool";

    fn verifier() -> JwtVerifier {
        JwtVerifier::new(
            ISS.into(),
            vec!["client".into()],
            "http://127.0.0.1:9/jwks".into(),
        )
    }

    /// As if `token` had passed the signature check with claims `claims`.
    fn remember(v: &JwtVerifier, token: &str, claims: Value) {
        let claims = claims.as_object().cloned().expect("object");
        let verified = Arc::new(Verified::new(claims).expect("claims"));
        v.verified.lock().expect("lock").insert(token, verified, 0);
    }

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    /// Claims of a token for `client` that expires `exp_in` seconds from now.
    fn claims_for(client: &str, exp_in: i64) -> Value {
        serde_json::json!({"iss": ISS, "sub": "u", "client_id": client, "exp": now() + exp_in})
    }

    #[tokio::test]
    async fn a_verified_token_is_still_checked_for_expiry_issuer_and_audience_at_every_use() {
        let v = verifier();
        remember(&v, "live", claims_for("client", 600));
        let claims = v.verify(Some("Bearer live")).await.expect("live token");
        assert_eq!(claims["sub"], "u");
        // What the authorizer forwards: the same claims, every value a string.
        let forwarded: serde_json::Map<String, Value> =
            serde_json::from_str(claims.forwarded().get()).expect("forwarded claims");
        assert_eq!(forwarded, stringify_claims(&claims));
        assert_eq!(forwarded["exp"], Value::String(claims["exp"].to_string()));

        remember(&v, "expired", claims_for("client", -1));
        assert!(matches!(
            v.verify(Some("expired")).await,
            Err(JwtError::Invalid(_))
        ));

        let mut early = claims_for("client", 600);
        early["nbf"] = (now() + 300).into();
        remember(&v, "early", early);
        assert!(matches!(
            v.verify(Some("early")).await,
            Err(JwtError::Invalid(_))
        ));

        remember(&v, "other", claims_for("other", 600));
        assert!(matches!(
            v.verify(Some("other")).await,
            Err(JwtError::Audience)
        ));
    }

    #[tokio::test]
    async fn forgotten_tokens_are_verified_from_scratch() {
        let v = verifier();
        remember(&v, "not-a-jwt", claims_for("client", 600));
        assert!(v.verify(Some("not-a-jwt")).await.is_ok());
        v.forget_verified();
        assert!(matches!(
            v.verify(Some("not-a-jwt")).await,
            Err(JwtError::Malformed(_))
        ));
    }

    #[test]
    fn the_verified_set_is_bounded_and_sheds_expired_tokens_first() {
        let mut set = VerifiedTokens::default();
        let claims = |exp: i64| {
            let map = serde_json::json!({"exp": exp})
                .as_object()
                .cloned()
                .expect("object");
            Arc::new(Verified::new(map).expect("claims"))
        };
        for i in 0..VerifiedTokens::CAPACITY {
            let exp = if i % 2 == 0 { 10 } else { 1000 };
            set.insert(&format!("t{i}"), claims(exp), 0);
        }
        set.insert("next", claims(1000), 100);
        assert_eq!(set.by_token.len(), VerifiedTokens::CAPACITY / 2 + 1);
        assert!(set.get("t1").is_some() && set.get("t0").is_none() && set.get("next").is_some());
        for i in 0..VerifiedTokens::CAPACITY {
            set.insert(&format!("u{i}"), claims(1000), 100);
        }
        assert!(set.by_token.len() <= VerifiedTokens::CAPACITY);
    }

    #[test]
    fn claims_are_strings_like_api_gateway_makes_them() {
        let claims =
            serde_json::json!({"cognito:groups": ["tenant:acme", "owner"], "exp": 5, "sub": "x"});
        let s = stringify_claims(claims.as_object().expect("object"));
        assert_eq!(s["cognito:groups"], "[tenant:acme owner]");
        assert_eq!(s["exp"], "5");
    }
}
