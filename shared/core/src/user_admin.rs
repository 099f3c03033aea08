//! User management by owners and admins: invite a user, change a user's role, disable and
//! enable a user, reset a user's authenticator. Every action is decided by the policy engine (owner-only powers, never on
//! oneself), needs an MFA step-up for `user_management` in this sign-in, and is two-phase
//! (prepare answers a summary and a confirmation id bound to exactly that request). Every
//! attempt is audited: denials by `Ctx::authorize`, other refusals by `Ctx::commit_refusal`,
//! changes by `Ctx::commit_change`.
//!
//! Order against the sign-in directory (Cognito), chosen to fail closed:
//! - invite: the login is created without groups (it can sign in but not act: a token
//!   without a tenant and a role group is refused), then the profile and access record are
//!   committed with the audit record, then the groups are granted;
//! - role change and disable: the access record is committed first, which refuses the user's
//!   existing tokens on their next request, then the directory is updated (groups or
//!   disabled, and a global sign-out). If the directory update fails, the user is locked out
//!   (their new tokens would carry the old role, or they are disabled here) until the request
//!   is repeated: repeating a change re-applies it.
use std::future::Future;

use serde_json::json;

use crate::actions::Action;
use crate::authz::Resource;
use crate::caller::Role;
use crate::confirm::{self, Confirmation};
use crate::ids::{TenantId, UserId};
use crate::keys;
use crate::mfa::{ActionClass, Enrollment, MfaReset};
use crate::problem::ApiError;
use crate::request::{store_error, Ctx};
use crate::store::TenantStore;
use crate::store::{Condition, Write};
use crate::user::{InviteUser, UserAccess, UserChange, UserProfile, UserStatus};

/// The sign-in directory's admin operations (Cognito in AWS, `shared/aws`). The username is
/// the user's (lower-case) email.
pub trait UserDirectory: Send + Sync {
    /// Create a login placed in `tenant` (`custom:tenant_id` set server-side), in no group
    /// yet; Cognito sends the invitation. Answers the user's id (`sub`).
    fn create_login(
        &self,
        tenant: &TenantId,
        email: &str,
    ) -> impl Future<Output = Result<UserId, DirectoryError>> + Send;
    /// Put the login in its tenant group and in `role`'s group, and out of every other role
    /// group (so repeating it is harmless).
    fn grant(
        &self,
        tenant: &TenantId,
        username: &str,
        role: Role,
    ) -> impl Future<Output = Result<(), DirectoryError>> + Send;
    fn set_enabled(
        &self,
        username: &str,
        enabled: bool,
    ) -> impl Future<Output = Result<(), DirectoryError>> + Send;
    /// End every sign-in of the user (their refresh tokens stop working).
    fn sign_out_everywhere(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<(), DirectoryError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("a user with this email already exists")]
    Exists,
    #[error("the sign-in directory: {0}")]
    Unavailable(String),
}

fn before_commit(e: DirectoryError) -> ApiError {
    match e {
        DirectoryError::Exists => ApiError::Conflict(e.to_string()),
        DirectoryError::Unavailable(d) => ApiError::Unavailable(d),
    }
}

fn after_commit(e: DirectoryError) -> ApiError {
    ApiError::Unavailable(format!(
        "the change is recorded (and already refuses the user's existing sign-ins), but the \
         sign-in directory was not updated ({e}); repeat the request to complete it"
    ))
}

/// What a user-management request answers.
#[derive(Debug)]
pub enum Outcome<T = UserProfile> {
    /// The first phase: 202 with a summary and the confirmation id.
    Prepared(Confirmation),
    /// Done: the user as they are now (or, for a reset, their authenticator).
    Done(T),
}

/// Record a refused attempt (denials are recorded by `authorize` already; a store or
/// directory failure is not a refusal).
async fn audited<S: TenantStore, T>(
    cx: &Ctx<'_, S>,
    action: Action,
    resource: &str,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    match result {
        Ok(v) => Ok(v),
        Err(e @ (ApiError::Forbidden | ApiError::Unavailable(_) | ApiError::Internal)) => Err(e),
        Err(e) => match cx
            .commit_refusal(action, resource, &e.to_string(), Vec::new())
            .await
        {
            Ok(()) => Err(e),
            Err(store) => Err(store_error(store)),
        },
    }
}

/// `POST /users`. `route` is the request's method and path (the confirmation is bound to it).
pub async fn invite<S: TenantStore, D: UserDirectory>(
    cx: &Ctx<'_, S>,
    directory: &D,
    route: &str,
    input: &InviteUser,
) -> Result<Outcome, ApiError> {
    let result = invite_inner(cx, directory, route, input).await;
    audited(cx, Action::InviteUser, "user/new", result).await
}

async fn invite_inner<S: TenantStore, D: UserDirectory>(
    cx: &Ctx<'_, S>,
    directory: &D,
    route: &str,
    input: &InviteUser,
) -> Result<Outcome, ApiError> {
    let tenant = &cx.caller.tenant;
    cx.authorize(
        Action::InviteUser,
        &Resource::ManagedUser {
            tenant: tenant.clone(),
            id: "new".into(),
            role: input.role,
            new_role: None,
        },
    )
    .await?;
    cx.require_step_up(ActionClass::UserManagement).await?;
    let (email, name) = input.validated()?;
    let data = json!({ "email": email, "name": name, "role": input.role });
    let Some(confirmation_id) = &input.confirmation_id else {
        let mut summary = format!(
            "Invite {name} <{email}> to this shop as {}; they get an email to sign in",
            input.role
        );
        if let Some(notice) = crate::mfa::enrollment_notice(input.role) {
            summary.push_str(". ");
            summary.push_str(notice);
        }
        return Ok(Outcome::Prepared(confirm::prepare(
            cx.cursors,
            cx.caller,
            route,
            &data,
            summary,
            cx.now(),
        )));
    };
    confirm::check(
        cx.cursors,
        cx.caller,
        route,
        &data,
        confirmation_id,
        cx.now(),
    )?;
    let user_id = directory
        .create_login(tenant, &email)
        .await
        .map_err(before_commit)?;
    let profile = UserProfile {
        user_id,
        tenant_id: tenant.clone(),
        email,
        name,
        role: input.role,
        status: UserStatus::Active,
        created_at: cx.now(),
    };
    let access = UserAccess::new(&profile);
    cx.commit_change(
        Action::InviteUser,
        &format!("user/{}", profile.user_id),
        vec![profile.write(), access.write(None)],
        None,
        &profile,
        "user",
    )
    .await?;
    directory
        .grant(tenant, &profile.email, profile.role)
        .await
        .map_err(after_commit)?;
    Ok(Outcome::Done(profile))
}

/// `PATCH /users/{id}/role`, `POST /users/{id}/disable`, `POST /users/{id}/enable`.
pub async fn change<S: TenantStore, D: UserDirectory>(
    cx: &Ctx<'_, S>,
    directory: &D,
    route: &str,
    raw_id: &str,
    change: UserChange,
    confirmation_id: Option<&str>,
) -> Result<Outcome, ApiError> {
    let action = match change {
        UserChange::Role(_) => Action::ChangeUserRole,
        UserChange::Disable => Action::DisableUser,
        UserChange::Enable => Action::EnableUser,
    };
    let resource = UserId::parse(raw_id)
        .map(|u| format!("user/{u}"))
        .unwrap_or_else(|_| "user/invalid-id".into());
    let result = change_inner(
        cx,
        directory,
        route,
        raw_id,
        change,
        action,
        &resource,
        confirmation_id,
    )
    .await;
    audited(cx, action, &resource, result).await
}

#[allow(clippy::too_many_arguments)]
async fn change_inner<S: TenantStore, D: UserDirectory>(
    cx: &Ctx<'_, S>,
    directory: &D,
    route: &str,
    raw_id: &str,
    change: UserChange,
    action: Action,
    resource: &str,
    confirmation_id: Option<&str>,
) -> Result<Outcome, ApiError> {
    let tenant = &cx.caller.tenant;
    // The key is built from the caller's tenant: another tenant's user is simply not found.
    let id = UserId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
    let profile: UserProfile = cx
        .get(&keys::user(tenant, &id))
        .await?
        .ok_or(ApiError::NotFound)?;
    cx.authorize(
        action,
        &Resource::ManagedUser {
            tenant: tenant.clone(),
            id: id.to_string(),
            role: profile.role,
            new_role: change.new_role(),
        },
    )
    .await?;
    cx.require_step_up(ActionClass::UserManagement).await?;
    let access = read_access(cx, tenant, &id).await?;
    let version = access.as_ref().map_or(0, |a| a.version);
    let data = json!({ "user": id, "change": format!("{change:?}"), "version": version });
    let Some(confirmation_id) = confirmation_id else {
        return Ok(Outcome::Prepared(confirm::prepare(
            cx.cursors,
            cx.caller,
            route,
            &data,
            change.summary(&profile),
            cx.now(),
        )));
    };
    confirm::check(
        cx.cursors,
        cx.caller,
        route,
        &data,
        confirmation_id,
        cx.now(),
    )?;
    let (next_profile, next_access) = change.apply(&profile, access.as_ref(), cx.now());
    let before = json!({ "profile": profile, "access": access });
    let after = json!({ "profile": next_profile, "access": next_access });
    cx.commit_change(
        action,
        resource,
        vec![
            next_access.write(access.as_ref().map(|a| a.version)),
            next_profile.update(),
        ],
        Some(&before),
        &after,
        "user",
    )
    .await?;
    let username = next_profile.email.as_str();
    match change {
        UserChange::Role(role) => {
            directory
                .grant(tenant, username, role)
                .await
                .map_err(after_commit)?;
            directory
                .sign_out_everywhere(username)
                .await
                .map_err(after_commit)?;
        }
        UserChange::Disable => {
            directory
                .set_enabled(username, false)
                .await
                .map_err(after_commit)?;
            directory
                .sign_out_everywhere(username)
                .await
                .map_err(after_commit)?;
        }
        UserChange::Enable => {
            directory
                .set_enabled(username, true)
                .await
                .map_err(after_commit)?;
        }
    }
    Ok(Outcome::Done(next_profile))
}

/// `POST /users/{id}/mfa/reset`: remove a user's authenticator (lost or compromised) and
/// every step-up proof they hold, so that they enroll afresh (a first enrollment: from a
/// sign-in of the last 5 minutes). Owners and admins (only owners reset owners; never oneself),
/// after a `user_management` step-up, in two phases bound to that exact enrollment.
pub async fn reset_mfa<S: TenantStore>(
    cx: &Ctx<'_, S>,
    route: &str,
    raw_id: &str,
    confirmation_id: Option<&str>,
) -> Result<Outcome<MfaReset>, ApiError> {
    let action = Action::ResetUserMfa;
    let resource = UserId::parse(raw_id)
        .map(|u| format!("user/{u}"))
        .unwrap_or_else(|_| "user/invalid-id".into());
    let result = reset_mfa_inner(cx, route, raw_id, &resource, confirmation_id).await;
    audited(cx, action, &resource, result).await
}

async fn reset_mfa_inner<S: TenantStore>(
    cx: &Ctx<'_, S>,
    route: &str,
    raw_id: &str,
    resource: &str,
    confirmation_id: Option<&str>,
) -> Result<Outcome<MfaReset>, ApiError> {
    let action = Action::ResetUserMfa;
    let tenant = &cx.caller.tenant;
    let id = UserId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
    let profile: UserProfile = cx
        .get(&keys::user(tenant, &id))
        .await?
        .ok_or(ApiError::NotFound)?;
    cx.authorize(
        action,
        &Resource::ManagedUser {
            tenant: tenant.clone(),
            id: id.to_string(),
            role: profile.role,
            new_role: None,
        },
    )
    .await?;
    cx.require_step_up(ActionClass::UserManagement).await?;
    let enrollment: Enrollment = cx
        .get(&keys::mfa(tenant, &id))
        .await?
        .ok_or_else(|| ApiError::Conflict("the user has no authenticator to reset".into()))?;
    // Bound to this very enrollment: its version restarts after a reset, its sealed secret's
    // nonce does not repeat.
    let data = json!({
        "user": id,
        "change": "mfa_reset",
        "version": enrollment.version,
        "nonce": enrollment.secret.nonce,
    });
    let Some(confirmation_id) = confirmation_id else {
        let summary = format!(
            "Remove the authenticator of {} <{}> ({}); they must enroll a new one, from a fresh sign-in, before any step-up",
            profile.name, profile.email, profile.role
        );
        return Ok(Outcome::Prepared(confirm::prepare(
            cx.cursors,
            cx.caller,
            route,
            &data,
            summary,
            cx.now(),
        )));
    };
    confirm::check(
        cx.cursors,
        cx.caller,
        route,
        &data,
        confirmation_id,
        cx.now(),
    )?;
    let mut writes = vec![Write::Delete {
        key: keys::mfa(tenant, &id),
        condition: Condition::VersionIs(enrollment.version),
    }];
    writes.extend(ActionClass::ALL.iter().map(|class| Write::Delete {
        key: keys::step_up(tenant, &id, class.as_str()),
        condition: Condition::None,
    }));
    let before = json!({ "enrolled": true, "confirmed": enrollment.confirmed });
    let after = json!({ "enrolled": false, "confirmed": false });
    cx.commit_change(
        action,
        resource,
        writes,
        Some(&before),
        &after,
        "authenticator",
    )
    .await?;
    Ok(Outcome::Done(MfaReset {
        user_id: id,
        enrolled: false,
    }))
}

/// A user's access record, strictly: an unreadable record is an error, never "absent".
pub async fn read_access<S: TenantStore>(
    cx: &Ctx<'_, S>,
    tenant: &TenantId,
    user: &UserId,
) -> Result<Option<UserAccess>, ApiError> {
    let item = cx
        .store
        .get(&keys::user_access(tenant, user))
        .await
        .map_err(store_error)?;
    item.map(|i| serde_json::from_value(serde_json::Value::Object(i)))
        .transpose()
        .map_err(|_| ApiError::Unavailable("a user's access record is unreadable".into()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use super::*;
    use crate::audit::Outcome as AuditOutcome;
    use crate::memory::TestRig;
    use crate::mfa::StepUpProof;
    use crate::user::{admit, AccessRefused, UserChange};

    #[derive(Default)]
    struct FakeDirectory {
        failing: AtomicBool,
        calls: Mutex<Vec<String>>,
    }

    impl FakeDirectory {
        fn call(&self, what: String) -> Result<(), DirectoryError> {
            if let Ok(mut c) = self.calls.lock() {
                c.push(what);
            }
            if self.failing.load(Ordering::SeqCst) {
                Err(DirectoryError::Unavailable("down".into()))
            } else {
                Ok(())
            }
        }
        fn calls(&self) -> Vec<String> {
            self.calls.lock().map(|c| c.clone()).unwrap_or_default()
        }
    }

    impl UserDirectory for FakeDirectory {
        async fn create_login(&self, _: &TenantId, email: &str) -> Result<UserId, DirectoryError> {
            self.call(format!("create {email}"))?;
            UserId::parse("new-user").map_err(|e| DirectoryError::Unavailable(e.to_string()))
        }
        async fn grant(
            &self,
            _: &TenantId,
            username: &str,
            role: Role,
        ) -> Result<(), DirectoryError> {
            self.call(format!("grant {username} {role}"))
        }
        async fn set_enabled(&self, username: &str, enabled: bool) -> Result<(), DirectoryError> {
            self.call(format!("enabled {username} {enabled}"))
        }
        async fn sign_out_everywhere(&self, username: &str) -> Result<(), DirectoryError> {
            self.call(format!("sign-out {username}"))
        }
    }

    /// An owner who stepped up in sign-in "s1", and a technician to manage.
    async fn rig() -> (TestRig, UserProfile) {
        let mut rig = TestRig::new("acme", Role::Owner);
        rig.caller.sign_in_id = Some("s1".into());
        let tech = UserProfile {
            user_id: UserId::parse("tech-1").expect("id"),
            tenant_id: rig.caller.tenant.clone(),
            email: "tech@example.com".into(),
            name: "Tech".into(),
            role: Role::Technician,
            status: UserStatus::Active,
            created_at: rig.meta.received_at,
        };
        let proof = StepUpProof {
            action_class: ActionClass::UserManagement,
            sign_in_id: "s1".into(),
            expires_at: rig.meta.received_at + time::Duration::minutes(5),
        };
        let writes = vec![
            tech.write(),
            UserAccess::new(&tech).write(None),
            proof.write(&rig.caller.tenant, &rig.caller.user),
        ];
        let seed = rig.ctx().record(
            Action::SignIn,
            "seed",
            AuditOutcome::Success,
            None,
            None,
            None,
        );
        rig.store.commit(writes, &seed).await.expect("seed");
        (rig, tech)
    }

    async fn confirmed(
        cx: &Ctx<'_, crate::memory::MemoryStore>,
        dir: &FakeDirectory,
        id: &str,
        c: UserChange,
    ) -> Result<Outcome, ApiError> {
        let route = "PATCH /users/tech-1/role";
        let Outcome::Prepared(p) = change(cx, dir, route, id, c, None).await? else {
            panic!("prepare first");
        };
        change(cx, dir, route, id, c, Some(&p.confirmation_id)).await
    }

    #[tokio::test]
    async fn a_role_change_whose_directory_update_fails_still_refuses_the_old_tokens() {
        let (rig, tech) = rig().await;
        let cx = rig.ctx();
        let dir = FakeDirectory::default();
        dir.failing.store(true, Ordering::SeqCst);
        let got = confirmed(&cx, &dir, "tech-1", UserChange::Role(Role::Dispatcher)).await;
        assert!(matches!(got, Err(ApiError::Unavailable(_))), "{got:?}");
        // The record changed first: the technician's existing token is refused.
        let access = read_access(&cx, &tech.tenant_id, &tech.user_id)
            .await
            .expect("read")
            .expect("record");
        assert_eq!(access.role, Role::Dispatcher);
        let old_token = crate::caller::Caller {
            tenant: tech.tenant_id.clone(),
            user: tech.user_id.clone(),
            role: Role::Technician,
            username: tech.email.clone(),
            sign_in_id: Some("t".into()),
            signed_in_at: Some(rig.meta.received_at.unix_timestamp() - 60),
            auth_time: None,
        };
        assert_eq!(
            admit(Some(&access), crate::user::admission(&old_token)),
            Err(AccessRefused::SessionsRevoked)
        );
        // Repeating the request completes it.
        dir.failing.store(false, Ordering::SeqCst);
        let done = confirmed(&cx, &dir, "tech-1", UserChange::Role(Role::Dispatcher)).await;
        assert!(matches!(done, Ok(Outcome::Done(ref p)) if p.role == Role::Dispatcher));
        assert_eq!(
            dir.calls().last().map(String::as_str),
            Some("sign-out tech@example.com")
        );
        let actions = rig.audit_actions();
        assert_eq!(
            actions
                .iter()
                .filter(|(a, o)| a == "user.role_change" && *o == AuditOutcome::Success)
                .count(),
            2
        );
    }

    #[tokio::test]
    async fn an_invitation_grants_groups_only_after_its_records_are_committed() {
        let (rig, _) = rig().await;
        let cx = rig.ctx();
        let dir = FakeDirectory::default();
        let input = |confirmation_id: Option<String>| InviteUser {
            email: "New@Example.com".into(),
            name: "New".into(),
            role: Role::Accounting,
            confirmation_id,
        };
        let Ok(Outcome::Prepared(p)) = invite(&cx, &dir, "POST /users", &input(None)).await else {
            panic!("prepare");
        };
        // The audit write fails: the records are not committed and no group is granted.
        rig.store.fail_audit.store(true, Ordering::SeqCst);
        let got = invite(
            &cx,
            &dir,
            "POST /users",
            &input(Some(p.confirmation_id.clone())),
        )
        .await;
        assert!(got.is_err());
        assert_eq!(dir.calls(), vec!["create new@example.com".to_owned()]);
        rig.store.fail_audit.store(false, Ordering::SeqCst);
        let done = invite(&cx, &dir, "POST /users", &input(Some(p.confirmation_id))).await;
        assert!(matches!(done, Ok(Outcome::Done(ref u)) if u.email == "new@example.com"));
        assert_eq!(
            dir.calls().last().map(String::as_str),
            Some("grant new@example.com accounting")
        );
    }

    /// A technician's enrollment whose sealed secret has this nonce.
    fn enrollment(tech: &UserProfile, version: u64, nonce: u8) -> Enrollment {
        let context = crate::mfa::totp_context(&tech.tenant_id, &tech.user_id).expect("context");
        Enrollment {
            tenant_id: tech.tenant_id.clone(),
            user_id: tech.user_id.clone(),
            secret: crate::sealed::SealedField::new(&context, "k", b"k", &[nonce; 12], &[0; 16]),
            confirmed: true,
            last_step: 0,
            failures: 0,
            locked_until: None,
            version,
        }
    }

    #[tokio::test]
    async fn an_authenticator_reset_is_bound_to_that_enrollment_and_removes_every_proof() {
        let (rig, tech) = rig().await;
        let cx = rig.ctx();
        let route = "POST /users/tech-1/mfa/reset";
        let seed = |writes: Vec<Write>| {
            let record = cx.record(
                Action::SignIn,
                "seed",
                AuditOutcome::Success,
                None,
                None,
                None,
            );
            let store = &rig.store;
            async move { store.commit(writes, &record).await.expect("seed") }
        };
        let tech_proof = StepUpProof {
            action_class: ActionClass::BillingCorrections,
            sign_in_id: "t1".into(),
            expires_at: rig.meta.received_at + time::Duration::minutes(5),
        };
        seed(vec![
            enrollment(&tech, 3, 1).write(None),
            tech_proof.write(&tech.tenant_id, &tech.user_id),
        ])
        .await;

        let Ok(Outcome::Prepared(p)) = reset_mfa(&cx, route, "tech-1", None).await else {
            panic!("prepare");
        };
        assert!(p.summary.contains("tech@example.com"), "{}", p.summary);
        let done = reset_mfa(&cx, route, "tech-1", Some(&p.confirmation_id)).await;
        assert!(
            matches!(done, Ok(Outcome::Done(ref r)) if !r.enrolled && r.user_id == tech.user_id),
            "{done:?}"
        );
        let gone = |key: crate::keys::Key| {
            let store = &rig.store;
            async move { store.get(&key).await.expect("read").is_none() }
        };
        assert!(gone(keys::mfa(&tech.tenant_id, &tech.user_id)).await);
        for class in ActionClass::ALL {
            assert!(
                gone(keys::step_up(
                    &tech.tenant_id,
                    &tech.user_id,
                    class.as_str()
                ))
                .await,
                "{class:?} proof"
            );
        }

        // The same confirmation cannot reset the user's next authenticator, even at the same
        // version number.
        seed(vec![enrollment(&tech, 3, 2).write(None)]).await;
        let again = reset_mfa(&cx, route, "tech-1", Some(&p.confirmation_id)).await;
        assert!(matches!(again, Err(ApiError::Conflict(_))), "{again:?}");
        assert!(!gone(keys::mfa(&tech.tenant_id, &tech.user_id)).await);

        let actions = rig.audit_actions();
        assert!(actions.contains(&("user.mfa_reset".into(), AuditOutcome::Success)));
        assert!(actions.contains(&("user.mfa_reset".into(), AuditOutcome::Denied)));
    }

    #[tokio::test]
    async fn an_authenticator_reset_needs_a_user_management_step_up() {
        let (mut rig, _) = rig().await;
        // Another sign-in of the owner: the proof from "s1" does not count.
        rig.caller.sign_in_id = Some("s2".into());
        let cx = rig.ctx();
        let got = reset_mfa(&cx, "POST /users/tech-1/mfa/reset", "tech-1", None).await;
        assert!(
            matches!(got, Err(ApiError::StepUpRequired("user_management"))),
            "{got:?}"
        );
        assert!(rig
            .audit_actions()
            .contains(&("user.mfa_reset".into(), AuditOutcome::Denied)));
    }
}
