//! Verifies Cognito tokens as API Gateway's HTTP API JWT authorizer does: RS256 signature by
//! a key from the pool's JWKS, `iss`, `exp`/`nbf`, and the audience (`aud` for id tokens,
//! `client_id` for access tokens). Anything else about the token is the handler's business
//! (it refuses id tokens), exactly as in AWS.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::Value;

pub struct JwtVerifier {
    issuer: String,
    audiences: Vec<String>,
    jwks_url: String,
    /// The JWKS's RS256 keys by `kid`, parsed once (the RSA key set up for verifying, not
    /// rebuilt from its modulus and exponent at every request).
    keys: RwLock<HashMap<String, Arc<ParsedPublicKey>>>,
    http: reqwest::Client,
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
        Ok(())
    }

    fn key(&self, kid: &str) -> Option<Arc<ParsedPublicKey>> {
        self.keys.read().ok()?.get(kid).cloned()
    }

    /// Verify `Authorization: Bearer <token>` (the prefix is optional, as in API Gateway) and
    /// return the token's claims.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
    ) -> Result<serde_json::Map<String, Value>, JwtError> {
        let raw = authorization.ok_or(JwtError::Missing)?.trim();
        let token = raw
            .strip_prefix("Bearer ")
            .or_else(|| raw.strip_prefix("bearer "))
            .unwrap_or(raw)
            .trim();
        if token.is_empty() {
            return Err(JwtError::Missing);
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
        // ... then the claims it signs: issuer, expiry, not-before, subject.
        check_claims(
            &data.claims,
            &self.issuer,
            time::OffsetDateTime::now_utc().unix_timestamp(),
        )?;
        let claims = data.claims;
        let audience = claims
            .get("client_id")
            .or_else(|| claims.get("aud"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !self.audiences.iter().any(|a| a == audience) {
            return Err(JwtError::Audience);
        }
        Ok(claims)
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

    #[test]
    fn claims_are_strings_like_api_gateway_makes_them() {
        let claims =
            serde_json::json!({"cognito:groups": ["tenant:acme", "owner"], "exp": 5, "sub": "x"});
        let s = stringify_claims(claims.as_object().expect("object"));
        assert_eq!(s["cognito:groups"], "[tenant:acme owner]");
        assert_eq!(s["exp"], "5");
    }
}
