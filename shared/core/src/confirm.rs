//! Two-phase confirmation for sensitive workflows: the first call (prepare) answers a summary
//! and a confirmation id bound to exactly that request (caller, sign-in, route, the data it
//! would change, and the record's version); the second call repeats the request with the id
//! and executes it. A changed request, a changed record or an expired id no longer matches.
//! Stateless: the id is a MAC with an expiry, checked in constant time.
//!
//! Single use: every confirmed change binds the version of the record it changes into the
//! data, and commits only under that version (the record's write is conditioned on it; a
//! retry that finds another version answers `stale`). Executing the change moves the version
//! on, so the same id never matches again.
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::caller::Caller;
use crate::cursor::CursorKey;
use crate::problem::ApiError;
use crate::store::PageKey;

pub const VALID_FOR: Duration = Duration::minutes(10);

/// What the prepare call answers (HTTP 202).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Confirmation {
    pub confirmation_id: String,
    /// What will happen, in words, for the person to check.
    pub summary: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub expires_at: OffsetDateTime,
}

fn scope(caller: &Caller, route: &str) -> String {
    format!(
        "confirm\n{}\n{}\n{}\n{route}",
        caller.tenant,
        caller.user,
        caller.sign_in_id.as_deref().unwrap_or("")
    )
}

fn digest(data: &Value) -> String {
    Sha256::digest(data.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn prepare(
    key: &CursorKey,
    caller: &Caller,
    route: &str,
    data: &Value,
    summary: String,
    now: OffsetDateTime,
) -> Confirmation {
    let expires_at = now + VALID_FOR;
    let mut payload = PageKey::new();
    payload.insert("digest".into(), digest(data));
    payload.insert("expires".into(), expires_at.unix_timestamp().to_string());
    Confirmation {
        confirmation_id: key.encode(&scope(caller, route), &payload),
        summary,
        expires_at,
    }
}

/// The answer to a confirmation that no longer matches its request or its record (changed,
/// already used, expired, or another caller's).
pub fn stale() -> ApiError {
    ApiError::Conflict("the confirmation does not match this request (changed, already used, expired or for someone else); prepare again".into())
}

pub fn check(
    key: &CursorKey,
    caller: &Caller,
    route: &str,
    data: &Value,
    id: &str,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let payload = key.decode(&scope(caller, route), id).map_err(|_| stale())?;
    let expires: i64 = payload
        .get("expires")
        .and_then(|e| e.parse().ok())
        .ok_or_else(stale)?;
    if expires < now.unix_timestamp() || payload.get("digest") != Some(&digest(data)) {
        return Err(stale());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::Role;
    use crate::ids::{TenantId, UserId};

    fn caller(sign_in: &str) -> Caller {
        Caller {
            tenant: TenantId::parse("acme").expect("t"),
            user: UserId::parse("u1").expect("u"),
            role: Role::Accounting,
            username: "u".into(),
            sign_in_id: Some(sign_in.into()),
            signed_in_at: None,
            auth_time: None,
        }
    }

    #[test]
    fn a_confirmation_matches_only_its_own_request() {
        let key = CursorKey::new(&[9; 32]).expect("key");
        let now = OffsetDateTime::now_utc();
        let data = serde_json::json!({"invoice": "1", "version": 2, "reason": "x"});
        let c = prepare(
            &key,
            &caller("s1"),
            "POST /invoices/1/void",
            &data,
            "Void #1".into(),
            now,
        );
        assert!(check(
            &key,
            &caller("s1"),
            "POST /invoices/1/void",
            &data,
            &c.confirmation_id,
            now
        )
        .is_ok());
        let changed = serde_json::json!({"invoice": "1", "version": 3, "reason": "x"});
        assert!(check(
            &key,
            &caller("s1"),
            "POST /invoices/1/void",
            &changed,
            &c.confirmation_id,
            now
        )
        .is_err());
        assert!(
            check(
                &key,
                &caller("s2"),
                "POST /invoices/1/void",
                &data,
                &c.confirmation_id,
                now
            )
            .is_err(),
            "another sign-in"
        );
        assert!(check(
            &key,
            &caller("s1"),
            "POST /invoices/2/void",
            &data,
            &c.confirmation_id,
            now
        )
        .is_err());
        assert!(
            check(
                &key,
                &caller("s1"),
                "POST /invoices/1/void",
                &data,
                &c.confirmation_id,
                now + Duration::minutes(11)
            )
            .is_err(),
            "expired"
        );
    }
}
