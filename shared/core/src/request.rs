//! One request's context: the caller, where the request came from, the tenant's store, and
//! the one policy engine. Handlers authorize and commit through it, so every write carries
//! its audit record and every denial leaves one.
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use time::OffsetDateTime;

use crate::actions::Action;
use crate::audit::{diff, AuditRecord, Outcome};
use crate::authz::{PolicyEngine, Resource};
use crate::caller::Caller;
use crate::cursor::CursorKey;
use crate::ids::{AuditId, IdSource};
use crate::keys;
use crate::problem::ApiError;
use crate::store::{Admission, Condition, Item, StoreError, TenantStore, Write};

/// Facts about the HTTP request that audit records keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMeta {
    pub request_id: String,
    pub source_ip: String,
    pub user_agent: String,
    pub received_at: OffsetDateTime,
}

pub struct Ctx<'a, S> {
    pub store: &'a S,
    pub caller: &'a Caller,
    pub meta: &'a RequestMeta,
    pub policy: &'a PolicyEngine,
    pub ids: &'a dyn IdSource,
    pub cursors: &'a CursorKey,
    /// The request's `Idempotency-Key` claim, if it carries one: its "committed" marker joins
    /// every commit's transaction.
    pub idempotency: Option<&'a crate::idempotency::Claim>,
    /// A signed-in user's access gate: its check joins every commit's transaction. `None` for
    /// principals without an access record (provider webhooks, customer links).
    pub access: Option<&'a AccessGate>,
}

/// A signed-in user's admission for one request: the user's access record (or its absence)
/// must still admit the token (`user::admit`). Every transaction the request commits carries
/// that check (a ConditionCheck on the record), so a write is admitted by the same atomic
/// operation that makes it, and no write commits once the user is disabled, demoted or
/// signed out, whatever the timing. A committed transaction proves admission for the rest
/// of the request; a request that commits nothing is admitted by reading the record
/// (`App::admit`).
#[derive(Debug)]
pub struct AccessGate {
    key: keys::Key,
    token: Admission,
    proven: AtomicBool,
}

impl AccessGate {
    pub fn for_caller(caller: &Caller) -> AccessGate {
        AccessGate {
            key: keys::user_access(&caller.tenant, &caller.user),
            token: crate::user::admission(caller),
            proven: AtomicBool::new(false),
        }
    }

    /// The access record's key (for the read that admits a request that commits nothing).
    pub fn key(&self) -> &keys::Key {
        &self.key
    }

    /// The check a transaction carries.
    pub fn check(&self) -> Write {
        Write::Check {
            key: self.key.clone(),
            condition: Condition::Admits(self.token),
        }
    }

    /// Admission was shown (a transaction with the check committed, or the record was read).
    pub fn prove(&self) {
        self.proven.store(true, Ordering::Release);
    }

    pub fn is_proven(&self) -> bool {
        self.proven.load(Ordering::Acquire)
    }
}

/// How a store failure reaches the caller: nothing is half-done in any case.
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::ConditionFailed { .. } => {
            ApiError::Conflict("the record changed or already exists; reload and retry".into())
        }
        StoreError::AccessDenied(_) => ApiError::Forbidden,
        StoreError::Contention => {
            ApiError::Conflict("a concurrent change touched the same record; retry".into())
        }
        StoreError::Unavailable(detail) => ApiError::Unavailable(detail),
    }
}

impl<S: TenantStore> Ctx<'_, S> {
    pub fn now(&self) -> OffsetDateTime {
        self.meta.received_at
    }

    /// The same request's context for a follow-up commit after the first one (which already
    /// carried the `Idempotency-Key` marker: it can be committed only once).
    pub fn after_first_commit(&self) -> Ctx<'_, S> {
        Ctx {
            store: self.store,
            caller: self.caller,
            meta: self.meta,
            policy: self.policy,
            ids: self.ids,
            cursors: self.cursors,
            idempotency: None,
            access: self.access,
        }
    }

    pub fn record(
        &self,
        action: Action,
        resource: &str,
        outcome: Outcome,
        reason: Option<String>,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> AuditRecord {
        AuditRecord {
            id: AuditId::new(self.ids.ulid()),
            tenant_id: self.caller.tenant.to_string(),
            at: self.meta.received_at,
            actor_user: self.caller.user.to_string(),
            actor_role: self.caller.role.to_string(),
            actor_name: self.caller.username.clone(),
            action: action.audit_name().into(),
            resource: resource.into(),
            request_id: self.meta.request_id.clone(),
            source_ip: self.meta.source_ip.clone(),
            user_agent: self.meta.user_agent.clone(),
            outcome,
            reason,
            changes: diff(before, after),
        }
    }

    /// Ask the policy engine. A denial is recorded (fail closed: if the record cannot be
    /// written the answer is 503, still a refusal) and answered with 403.
    pub async fn authorize(&self, action: Action, resource: &Resource) -> Result<(), ApiError> {
        match self.policy.decide(self.caller, action, resource) {
            Ok(()) => Ok(()),
            Err(denied) => {
                let record = self.record(
                    action,
                    &resource.audit_name(),
                    Outcome::Denied,
                    Some(denied.reason),
                    None,
                    None,
                );
                self.store
                    .append_audit(&record)
                    .await
                    .map_err(store_error)?;
                Err(ApiError::Forbidden)
            }
        }
    }

    /// Commit writes with their audit record (and the idempotency marker, if any) in one
    /// transaction.
    pub async fn commit(
        &self,
        action: Action,
        resource: &str,
        mut writes: Vec<Write>,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<(), StoreError> {
        let marker_index = self.idempotency.map(|claim| {
            writes.push(claim.committed_write());
            writes.len() - 1
        });
        let record = self.record(action, resource, Outcome::Success, None, before, after);
        // The store puts the audit record last, after the access check `transact` adds.
        let audit_index = writes.len() + usize::from(self.access.is_some());
        match self.transact(writes, &record).await {
            Ok(()) => {
                if let Some(claim) = self.idempotency {
                    claim.mark_committed();
                }
                Ok(())
            }
            // The audit record (last in the transaction) could not be written: nothing was.
            Err(StoreError::ConditionFailed { index }) if index == audit_index => Err(
                StoreError::Unavailable("the audit record could not be written".into()),
            ),
            // Another request took the idempotency key over: this one changes nothing.
            Err(StoreError::ConditionFailed { index }) if Some(index) == marker_index => Err(
                StoreError::Unavailable("the idempotency key was taken over".into()),
            ),
            other => other,
        }
    }

    /// Commit a record's change (`writes`), audited with the before/after diff; a failed
    /// condition means someone changed the `what` meanwhile (409).
    pub async fn commit_change<T: serde::Serialize>(
        &self,
        action: Action,
        resource: &str,
        writes: Vec<Write>,
        before: Option<&T>,
        after: &T,
        what: &str,
    ) -> Result<(), ApiError> {
        let b = before
            .map(serde_json::to_value)
            .transpose()
            .map_err(|_| ApiError::Internal)?;
        let a = serde_json::to_value(after).map_err(|_| ApiError::Internal)?;
        self.commit(action, resource, writes, b.as_ref(), Some(&a))
            .await
            .map_err(|e| match e {
                StoreError::ConditionFailed { .. } => {
                    ApiError::Conflict(format!("the {what} changed meanwhile; reload and retry"))
                }
                other => store_error(other),
            })
    }

    /// Commit writes that record a refused attempt (a wrong MFA code and its failure count)
    /// with a `denied` audit record, in one transaction.
    pub async fn commit_refusal(
        &self,
        action: Action,
        resource: &str,
        reason: &str,
        writes: Vec<Write>,
    ) -> Result<(), StoreError> {
        let record = self.record(
            action,
            resource,
            Outcome::Denied,
            Some(reason.into()),
            None,
            None,
        );
        self.transact(writes, &record).await
    }

    /// The one way a request's transaction reaches the store: with the caller's access check
    /// (if any) after `writes` and before the audit record, which the store adds last. A failed
    /// check is `AccessDenied` (nothing was written); a commit proves admission.
    async fn transact(
        &self,
        mut writes: Vec<Write>,
        record: &AuditRecord,
    ) -> Result<(), StoreError> {
        let Some(gate) = self.access else {
            return self.store.commit(writes, record).await;
        };
        writes.push(gate.check());
        let check_index = writes.len() - 1;
        match self.store.commit(writes, record).await {
            Ok(()) => {
                gate.prove();
                Ok(())
            }
            Err(StoreError::ConditionFailed { index }) if index == check_index => Err(
                StoreError::AccessDenied("the caller's access was revoked".into()),
            ),
            other => other,
        }
    }

    /// Record an access to protected data (a download URL, an export) before it is handed
    /// out. Fail closed: if the record cannot be written the caller gets a 503 and nothing.
    pub async fn commit_access(
        &self,
        action: Action,
        resource: &str,
        details: &Value,
    ) -> Result<(), ApiError> {
        let record = self.record(
            action,
            resource,
            Outcome::Success,
            None,
            None,
            Some(details),
        );
        self.store.append_audit(&record).await.map_err(|e| {
            tracing::error!(error = %e, "access record");
            ApiError::Unavailable("the access record could not be written".into())
        })
    }

    /// Refuse unless the caller stepped up for `class` in this sign-in within the last five
    /// minutes (`POST /me/mfa/step-up`).
    pub async fn require_step_up(&self, class: crate::mfa::ActionClass) -> Result<(), ApiError> {
        let key = crate::keys::step_up(&self.caller.tenant, &self.caller.user, class.as_str());
        let proof: Option<crate::mfa::StepUpProof> = self.get(&key).await?;
        let valid = proof
            .is_some_and(|p| p.valid_for(self.caller.sign_in_id.as_deref(), class, self.now()));
        if valid {
            Ok(())
        } else {
            Err(crate::mfa::step_up_required(class))
        }
    }

    /// Record the first request of a sign-in session once (a marker item makes it idempotent
    /// across containers).
    pub async fn record_sign_in(&self) -> Result<(), ApiError> {
        let Some(sign_in_id) = &self.caller.sign_in_id else {
            return Ok(());
        };
        let marker = Write::Put {
            key: keys::sign_in(&self.caller.tenant, sign_in_id),
            index: None,
            item: Item::new(),
            condition: Condition::NotExists,
        };
        let resource = format!("user/{}", self.caller.user);
        let record = self.record(
            Action::SignIn,
            &resource,
            Outcome::Success,
            None,
            None,
            None,
        );
        match self.transact(vec![marker], &record).await {
            Ok(()) | Err(StoreError::ConditionFailed { index: 0 }) => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }
}

impl<S> Ctx<'_, S> {
    /// Where a list continues, from the client's opaque cursor for the list `scope`.
    pub fn start_after(
        &self,
        scope: &str,
        cursor: Option<&str>,
    ) -> Result<Option<crate::store::PageKey>, ApiError> {
        cursor.map(|c| self.cursors.decode(scope, c)).transpose()
    }

    /// The opaque cursor for the page after this one.
    pub fn next_cursor(&self, scope: &str, next: Option<&crate::store::PageKey>) -> Option<String> {
        next.map(|k| self.cursors.encode(scope, k))
    }
}

impl<S: TenantStore> Ctx<'_, S> {
    /// A record of the caller's tenant, parsed; `None` when absent (or not of that type).
    pub async fn get<T: serde::de::DeserializeOwned>(
        &self,
        key: &crate::keys::Key,
    ) -> Result<Option<T>, ApiError> {
        let item = self.store.get(key).await.map_err(store_error)?;
        Ok(item.and_then(|i| serde_json::from_value(Value::Object(i)).ok()))
    }

    /// Read a protected record (an HR record), fail closed: the access is recorded in the
    /// audit trail FIRST, and only then is the record read. If the access record cannot be
    /// written nothing is read and the caller gets a 503. The record names who read what,
    /// whether or not the record turns out to exist.
    pub async fn audited_read<T: serde::de::DeserializeOwned>(
        &self,
        action: Action,
        resource: &str,
        key: &crate::keys::Key,
    ) -> Result<Option<T>, ApiError> {
        let record = self.record(action, resource, Outcome::Success, None, None, None);
        if let Err(e) = self.store.append_audit(&record).await {
            tracing::error!(error = %e, "the access record of a protected read");
            return Err(ApiError::Unavailable(
                "the access could not be recorded; nothing was read".into(),
            ));
        }
        self.get(key).await
    }

    /// One page of a list partition (of the index or the table), parsed, with the opaque
    /// cursor to the next page.
    pub async fn page<T: serde::de::DeserializeOwned + Send>(
        &self,
        index: bool,
        partition: String,
        limit: u32,
        cursor: Option<&str>,
        newest_first: bool,
    ) -> Result<crate::routes::PageOf<T>, ApiError> {
        let start = self.start_after(&partition, cursor)?;
        let query = crate::store::ListQuery {
            index,
            partition,
            limit,
            start,
            newest_first,
        };
        let page = self.store.list_records(&query).await.map_err(store_error)?;
        Ok(crate::routes::PageOf {
            items: page.items,
            next_cursor: self.next_cursor(&query.partition, page.next.as_ref()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::Role;
    use crate::memory::TestRig;
    use crate::user::{UserAccess, UserProfile, UserStatus};

    fn record(rig: &TestRig, role: Role, status: UserStatus, revoked: Option<i64>) -> Write {
        let mut access = UserAccess::new(&UserProfile {
            user_id: rig.caller.user.clone(),
            tenant_id: rig.caller.tenant.clone(),
            email: "pat@example.com".into(),
            name: "Pat".into(),
            role,
            status,
            created_at: OffsetDateTime::UNIX_EPOCH,
        });
        access.sessions_valid_after = revoked;
        access.write(None)
    }

    fn change(rig: &TestRig, n: u32) -> Write {
        Write::Put {
            key: keys::Key {
                pk: format!("T#{}#THING#{n}", rig.caller.tenant),
                sk: "THING".into(),
            },
            index: None,
            item: Item::new(),
            condition: Condition::NotExists,
        }
    }

    /// Commit `change` through a gated context; the store's item count and audit length after.
    async fn gated_commit(rig: &TestRig, gate: &AccessGate) -> Result<(), StoreError> {
        let cx = Ctx {
            access: Some(gate),
            ..rig.ctx()
        };
        cx.commit(
            Action::CreateCustomer,
            "thing/1",
            vec![change(rig, 1)],
            None,
            None,
        )
        .await
    }

    #[tokio::test]
    async fn a_commit_carries_the_access_check_and_proves_admission() {
        let mut rig = TestRig::new("acme", Role::Dispatcher);
        rig.caller.signed_in_at = Some(2_000);
        let seed = rig.ctx();
        seed.commit(
            Action::CreateCustomer,
            "seed",
            vec![record(
                &rig,
                Role::Dispatcher,
                UserStatus::Active,
                Some(1_000),
            )],
            None,
            None,
        )
        .await
        .expect("seed");
        let gate = AccessGate::for_caller(&rig.caller);
        assert!(!gate.is_proven());
        gated_commit(&rig, &gate).await.expect("admitted");
        assert!(gate.is_proven(), "a committed transaction proves admission");
        assert_eq!(rig.store.audit.lock().expect("audit").len(), 2);
    }

    #[tokio::test]
    async fn a_refused_token_commits_nothing_and_is_not_proven() {
        let cases = [
            (Role::Dispatcher, UserStatus::Disabled, None, Some(2_000)),
            (Role::Technician, UserStatus::Active, None, Some(2_000)),
            (
                Role::Dispatcher,
                UserStatus::Active,
                Some(2_000),
                Some(2_000),
            ),
            (Role::Dispatcher, UserStatus::Active, Some(1_000), None),
        ];
        for (role, status, revoked, signed_in_at) in cases {
            let mut rig = TestRig::new("acme", Role::Dispatcher);
            rig.caller.signed_in_at = signed_in_at;
            rig.ctx()
                .commit(
                    Action::CreateCustomer,
                    "seed",
                    vec![record(&rig, role, status, revoked)],
                    None,
                    None,
                )
                .await
                .expect("seed");
            let gate = AccessGate::for_caller(&rig.caller);
            let refused = gated_commit(&rig, &gate).await;
            assert!(
                matches!(refused, Err(StoreError::AccessDenied(_))),
                "{role} {status:?} {revoked:?} {signed_in_at:?}: {refused:?}"
            );
            assert!(!gate.is_proven());
            let thing = rig.store.get(&change_key(&rig)).await.expect("get");
            assert!(thing.is_none(), "nothing was written");
            assert_eq!(
                rig.store.audit.lock().expect("audit").len(),
                1,
                "no audit record"
            );
        }
    }

    #[tokio::test]
    async fn a_denial_is_recorded_and_stays_a_refusal_when_its_record_fails() {
        use std::sync::atomic::Ordering;
        let rig = TestRig::new("acme", Role::Technician);
        let resource = crate::authz::Resource::Tenant(rig.caller.tenant.clone());
        let denied = rig.ctx().authorize(Action::ListAudit, &resource).await;
        assert_eq!(denied, Err(ApiError::Forbidden));
        assert_eq!(
            rig.audit_actions(),
            [(
                Action::ListAudit.audit_name().to_owned(),
                crate::audit::Outcome::Denied
            )]
        );
        rig.store.fail_append.store(true, Ordering::SeqCst);
        let unrecorded = rig.ctx().authorize(Action::ListAudit, &resource).await;
        assert!(
            matches!(unrecorded, Err(ApiError::Unavailable(_))),
            "{unrecorded:?}"
        );
        assert_eq!(rig.audit_actions().len(), 1);
    }

    #[tokio::test]
    async fn a_user_without_an_access_record_is_admitted() {
        let rig = TestRig::new("acme", Role::Owner);
        let gate = AccessGate::for_caller(&rig.caller);
        gated_commit(&rig, &gate).await.expect("admitted");
        assert!(gate.is_proven());
    }

    fn change_key(rig: &TestRig) -> keys::Key {
        match change(rig, 1) {
            Write::Put { key, .. } => key,
            _ => unreachable!(),
        }
    }
}
