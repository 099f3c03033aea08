//! Verifies Cognito tokens as API Gateway's HTTP API JWT authorizer does: RS256 signature by
//! a key from the pool's JWKS, `iss`, `exp`/`nbf`, and the audience (`aud` for id tokens,
//! `client_id` for access tokens). Anything else about the token is the handler's business
//! (it refuses id tokens), exactly as in AWS.
use std::collections::HashMap;
use std::sync::RwLock;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;

pub struct JwtVerifier {
    issuer: String,
    audiences: Vec<String>,
    jwks_url: String,
    keys: RwLock<HashMap<String, DecodingKey>>,
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
        for k in doc["keys"].as_array().into_iter().flatten() {
            if let (Some(kid), Some(n), Some(e)) =
                (k["kid"].as_str(), k["n"].as_str(), k["e"].as_str())
            {
                if let Ok(key) = DecodingKey::from_rsa_components(n, e) {
                    keys.insert(kid.to_owned(), key);
                }
            }
        }
        if let Ok(mut slot) = self.keys.write() {
            *slot = keys;
        }
        Ok(())
    }

    fn key(&self, kid: &str) -> Option<DecodingKey> {
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
        let header = decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(JwtError::Malformed("only RS256 is accepted".into()));
        }
        let kid = header
            .kid
            .ok_or_else(|| JwtError::Malformed("no kid".into()))?;
        let key = match self.key(&kid) {
            Some(k) => k,
            None => {
                self.refresh().await?;
                self.key(&kid).ok_or(JwtError::UnknownKey)?
            }
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.validate_aud = false;
        validation.validate_nbf = true;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = decode::<serde_json::Map<String, Value>>(token, &key, &validation)
            .map_err(|e| JwtError::Invalid(e.to_string()))?;
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
    fn claims_are_strings_like_api_gateway_makes_them() {
        let claims =
            serde_json::json!({"cognito:groups": ["tenant:acme", "owner"], "exp": 5, "sub": "x"});
        let s = stringify_claims(claims.as_object().expect("object"));
        assert_eq!(s["cognito:groups"], "[tenant:acme owner]");
        assert_eq!(s["exp"], "5");
    }
}
