//! `Idempotency-Key` for creating POSTs, with Stripe's semantics: the same key and body replay
//! the first response; the same key with a different body is a 422; a duplicate arriving while
//! the first is still running is a 409. Keys live 25 hours.
//!
//! The marker that says "this request's change is committed" rides in the same transaction
//! as the change itself, so a request can never take effect twice, even if the process dies
//! between committing and storing the response, or the answer is lost to a timeout: a retry
//! gets the stored answer, or a 409 that says the change is committed, never a second change.
//!
//! A key answers only the role it was used under: a user whose role changed since gets a 409,
//! not the earlier role's answer (which may hold what the new role may not see). Technician
//! and customer sessions create nothing a key protects: they never read or write these
//! records (`applies_to`; the tenant data role refuses them the records too).
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::caller::{Caller, Role};
use crate::keys::{self, Key};
use crate::problem::ApiError;
use crate::store::{Condition, Item, TenantStore, Write};

pub const HEADER: &str = "idempotency-key";
/// How long a key is remembered (at least the promised 24 hours).
pub const KEEP_FOR: Duration = Duration::hours(25);
/// A claim older than this whose change never committed may be taken over: longer than any
/// request can run (a function's 10-second timeout), so its process is gone. Taking over bumps
/// the claim's version, so a late transaction of the old request (held up by a stalled store)
/// fails its marker condition rather than commit a second time.
pub const LEASE: Duration = Duration::seconds(15);

/// Whether a caller's requests use `Idempotency-Key` records at all: not technicians' and
/// customers' (no route that takes a key is theirs; their requests run and are refused).
pub fn applies_to(role: Role) -> bool {
    !matches!(role, Role::Technician | Role::Customer)
}

/// This request holds the key.
#[derive(Debug)]
pub struct Claim {
    key: Key,
    version: u64,
    request_hash: String,
    /// The role the key was claimed under: its answer is replayed to that role only.
    role: String,
    expires_at: i64,
    committed: AtomicBool,
}

pub enum Begin {
    Fresh(Claim),
    Replay { status: u16, body: Value },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn marker(
    state: &str,
    version: u64,
    hash: &str,
    role: &str,
    expires_at: i64,
    extra: Value,
) -> Item {
    let mut item = Item::new();
    item.insert("state".into(), json!(state));
    item.insert("version".into(), json!(version));
    item.insert("request_hash".into(), json!(hash));
    item.insert("role".into(), json!(role));
    item.insert("expires_at".into(), json!(expires_at));
    if let Value::Object(m) = extra {
        item.extend(m);
    }
    item
}

/// Claim `raw_key` for this caller and route, or answer from an earlier request.
pub async fn begin<S: TenantStore>(
    store: &S,
    caller: &Caller,
    route: &str,
    raw_key: &str,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Begin, ApiError> {
    let valid = (1..=255).contains(&raw_key.len()) && raw_key.chars().all(|c| c.is_ascii_graphic());
    if !valid {
        return Err(ApiError::invalid_field(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    let scope = hex(&Sha256::digest(
        format!("{}\n{route}\n{raw_key}", caller.user).as_bytes(),
    ));
    let key = keys::idempotency(&caller.tenant, &scope);
    let request_hash = hex(&Sha256::digest(body));
    let role = caller.role.to_string();
    let existing = store.get(&key).await.map_err(crate::request::store_error)?;
    let field = |i: &Item, k: &str| i.get(k).cloned().unwrap_or(Value::Null);
    let condition = match &existing {
        None => Condition::NotExists,
        Some(rec) => {
            let version = field(rec, "version").as_u64().unwrap_or(0);
            let expired = field(rec, "expires_at").as_i64().unwrap_or(0) < now.unix_timestamp();
            let state = field(rec, "state");
            if expired {
                Condition::VersionIs(version)
            } else if field(rec, "role").as_str() != Some(role.as_str()) {
                return Err(ApiError::Conflict(
                    "this Idempotency-Key was used under another role; send the request with a new key".into(),
                ));
            } else if field(rec, "request_hash").as_str() != Some(request_hash.as_str()) {
                return Err(ApiError::Unprocessable(
                    "this Idempotency-Key was used with a different request body".into(),
                ));
            } else if state == "done" {
                return Ok(Begin::Replay {
                    status: field(rec, "status")
                        .as_u64()
                        .and_then(|s| u16::try_from(s).ok())
                        .unwrap_or(200),
                    body: field(rec, "body"),
                });
            } else if state == "committed" {
                return Err(ApiError::Conflict(
                    "a request with this Idempotency-Key already completed; fetch the resource it created".into(),
                ));
            } else if field(rec, "lease_until").as_i64().unwrap_or(0) > now.unix_timestamp() {
                return Err(ApiError::Conflict(
                    "a request with this Idempotency-Key is in progress".into(),
                ));
            } else {
                Condition::VersionIs(version)
            }
        }
    };
    let version = existing
        .as_ref()
        .and_then(|r| field(r, "version").as_u64())
        .unwrap_or(0)
        + 1;
    let expires_at = (now + KEEP_FOR).unix_timestamp();
    let item = marker(
        "in_progress",
        version,
        &request_hash,
        &role,
        expires_at,
        json!({ "lease_until": (now + LEASE).unix_timestamp() }),
    );
    store
        .put_marker(Write::Put {
            key: key.clone(),
            index: None,
            item,
            condition,
        })
        .await
        .map_err(|e| match e {
            crate::store::StoreError::ConditionFailed { .. } => {
                ApiError::Conflict("a request with this Idempotency-Key is in progress".into())
            }
            other => crate::request::store_error(other),
        })?;
    Ok(Begin::Fresh(Claim {
        key,
        version,
        request_hash,
        role,
        expires_at,
        committed: AtomicBool::new(false),
    }))
}

impl Claim {
    /// The write that marks the change committed; it joins the change's own transaction.
    pub fn committed_write(&self) -> Write {
        Write::Put {
            key: self.key.clone(),
            index: None,
            item: marker(
                "committed",
                self.version + 1,
                &self.request_hash,
                &self.role,
                self.expires_at,
                json!({}),
            ),
            condition: Condition::VersionIs(self.version),
        }
    }

    /// Called by the commit path once the transaction holding `committed_write` succeeded.
    pub fn mark_committed(&self) {
        self.committed.store(true, Ordering::SeqCst);
    }

    /// Store the response to replay, or release the key if nothing was committed.
    pub async fn finish<S: TenantStore>(&self, store: &S, status: u16, body: &Value) {
        let committed = self.committed.load(Ordering::SeqCst);
        let held = if committed {
            self.version + 1
        } else {
            self.version
        };
        let write = if (200..300).contains(&status) {
            Write::Put {
                key: self.key.clone(),
                index: None,
                item: marker(
                    "done",
                    held + 1,
                    &self.request_hash,
                    &self.role,
                    self.expires_at,
                    json!({ "status": status, "body": body }),
                ),
                condition: Condition::VersionIs(held),
            }
        } else if committed {
            return;
        } else {
            Write::Delete {
                key: self.key.clone(),
                condition: Condition::VersionIs(held),
            }
        };
        // Best effort: if this fails, a committed request answers 409 on retry, never twice.
        if let Err(e) = store.put_marker(write).await {
            tracing::warn!(error = %e, "idempotency marker not updated");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::TestRig;

    async fn first_answer(rig: &TestRig, body: &[u8]) {
        let now = rig.meta.received_at;
        let Ok(Begin::Fresh(claim)) =
            begin(&rig.store, &rig.caller, "POST /x", "k", body, now).await
        else {
            panic!("a fresh claim");
        };
        claim
            .finish(&rig.store, 201, &json!({"price_minor": 12_500}))
            .await;
    }

    #[tokio::test]
    async fn an_answer_is_replayed_to_the_role_it_was_made_for_only() {
        let mut rig = TestRig::new("acme", Role::Owner);
        first_answer(&rig, b"{}").await;
        let now = rig.meta.received_at;
        let same = begin(&rig.store, &rig.caller, "POST /x", "k", b"{}", now).await;
        assert!(matches!(same, Ok(Begin::Replay { status: 201, .. })));
        // The same user after a role change: a 409, not the owner-era answer.
        for role in [Role::Dispatcher, Role::Technician, Role::Accounting] {
            rig.caller.role = role;
            let other = begin(&rig.store, &rig.caller, "POST /x", "k", b"{}", now).await;
            assert!(matches!(other, Err(ApiError::Conflict(_))), "{role}");
        }
    }

    #[test]
    fn technicians_and_customers_use_no_idempotency_records() {
        for role in Role::ALL.iter().filter(|r| **r != Role::Technician) {
            assert!(applies_to(*role), "{role}");
        }
        assert!(!applies_to(Role::Technician));
        assert!(!applies_to(Role::Customer));
    }
}
