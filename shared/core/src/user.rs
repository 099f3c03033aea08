//! Tenants and their users, as the API shows them.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::caller::{Caller, Role};
use crate::ids::{TenantId, UserId};
use crate::keys;
use crate::problem::ApiError;
use crate::store::{Admission, Condition, Item, Write};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tenant {
    pub tenant_id: TenantId,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub created_at: OffsetDateTime,
    /// The shop's own account at the payment provider (its merchant of record), created or
    /// linked at onboarding; every provider call for the tenant is made on it. Absent, the
    /// payment routes answer 409 until an operator links one.
    #[serde(default)]
    pub payment_account: Option<crate::payment::ProviderAccount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserProfile {
    pub user_id: UserId,
    pub tenant_id: TenantId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: UserStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub created_at: OffsetDateTime,
}

/// What a completed invitation answers: the new user, and whether their role must enroll an
/// authenticator before any step-up-gated action (owners and admins), with how.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Invited {
    #[serde(flatten)]
    pub user: UserProfile,
    pub mfa_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_notice: Option<String>,
}

impl Invited {
    pub fn new(user: UserProfile) -> Invited {
        let notice = crate::mfa::enrollment_notice(user.role);
        Invited {
            user,
            mfa_required: notice.is_some(),
            mfa_notice: notice.map(str::to_owned),
        }
    }
}

fn object<T: Serialize>(value: &T) -> Item {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => Item::new(),
    }
}

impl Tenant {
    pub fn write(&self) -> Write {
        Write::Put {
            key: keys::tenant_profile(&self.tenant_id),
            index: None,
            item: object(self),
            condition: Condition::NotExists,
        }
    }
}

impl UserProfile {
    pub fn write(&self) -> Write {
        Write::Put {
            key: keys::user(&self.tenant_id, &self.user_id),
            index: Some(keys::users_index(
                &self.tenant_id,
                &self.email,
                &self.user_id,
            )),
            item: object(self),
            condition: Condition::NotExists,
        }
    }
}

/// What `GET /me` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Me {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    pub tenant: Option<Tenant>,
    pub profile: Option<UserProfile>,
}

impl UserProfile {
    /// Rewrite an existing profile (role or status changed). Only ever written in the same
    /// transaction as the user's access record, whose version condition orders the changes.
    pub fn update(&self) -> Write {
        match self.write() {
            Write::Put {
                key, index, item, ..
            } => Write::Put {
                key,
                index,
                item,
                condition: Condition::None,
            },
            other => other,
        }
    }
}

/// A user's access state, read on every request (`App::begin`, one consistent GetItem): a
/// token is admitted only while the user is active, the token's role is the user's role, and
/// the token's sign-in is later than the last revocation of the user's sessions.
///
/// Only owner/admin sessions can write it (the tenant data role's policy); every session can
/// read its own user's record and no other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAccess {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub role: Role,
    pub status: UserStatus,
    /// Sign-ins at or before this instant (Unix seconds) are revoked. Cognito times are whole
    /// seconds, so a sign-in in the very second of a revocation is refused too (sign in again).
    pub sessions_valid_after: Option<i64>,
    pub version: u64,
}

/// Why a verified token no longer admits its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessRefused {
    Disabled,
    SessionsRevoked,
    RoleChanged,
}

impl AccessRefused {
    /// For the audit record.
    pub fn reason(self) -> &'static str {
        match self {
            AccessRefused::Disabled => "user disabled",
            AccessRefused::SessionsRevoked => "sign-in revoked",
            AccessRefused::RoleChanged => "token role is no longer the user's role",
        }
    }

    /// For the caller (a 401: sign in again).
    pub fn detail(self) -> &'static str {
        match self {
            AccessRefused::Disabled => "this user is disabled",
            AccessRefused::SessionsRevoked | AccessRefused::RoleChanged => {
                "this sign-in was revoked; sign in again"
            }
        }
    }
}

impl UserAccess {
    /// The first record of a user (onboarding, invitation).
    pub fn new(profile: &UserProfile) -> UserAccess {
        UserAccess {
            tenant_id: profile.tenant_id.clone(),
            user_id: profile.user_id.clone(),
            role: profile.role,
            status: profile.status,
            sessions_valid_after: None,
            version: 1,
        }
    }

    pub fn admits(&self, token: Admission) -> Result<(), AccessRefused> {
        if self.status == UserStatus::Disabled {
            return Err(AccessRefused::Disabled);
        }
        if let Some(after) = self.sessions_valid_after {
            // A token that names no sign-in time cannot show it is newer: refused.
            if token.signed_in_at.is_none_or(|t| t <= after) {
                return Err(AccessRefused::SessionsRevoked);
            }
        }
        if self.role != token.role {
            return Err(AccessRefused::RoleChanged);
        }
        Ok(())
    }

    /// `previous`: the stored version this replaces (`None`: there is no record yet).
    pub fn write(&self, previous: Option<u64>) -> Write {
        Write::Put {
            key: keys::user_access(&self.tenant_id, &self.user_id),
            index: None,
            item: object(self),
            condition: previous
                .map(Condition::VersionIs)
                .unwrap_or(Condition::NotExists),
        }
    }
}

/// The per-request decision. A user without an access record is one onboarded before access
/// records existed: nothing has revoked them (every change that revokes writes the record in
/// the same transaction as its audit record, and only owner/admin sessions can write or
/// delete it), so the token's verified role stands. Onboarding and invitations write the
/// record from the start; the fallback exists for users created before this check.
pub fn admit(record: Option<&UserAccess>, token: Admission) -> Result<(), AccessRefused> {
    match record {
        Some(r) => r.admits(token),
        None => Ok(()),
    }
}

/// What `caller`'s token claims, for `admit` (and for the same check inside a transaction,
/// `store::Condition::Admits`).
pub fn admission(caller: &Caller) -> Admission {
    Admission {
        role: caller.role,
        signed_in_at: caller.signed_in_at,
    }
}

/// `POST /users`: invite a user into the caller's tenant (never another: the tenant comes
/// from the caller's token only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Absent: prepare (202 with a summary and this id). Present: invite.
    #[serde(default)]
    pub confirmation_id: Option<String>,
}

impl InviteUser {
    /// The normalized email (lower case, trimmed) and name, or per-field errors.
    pub fn validated(&self) -> Result<(String, String), ApiError> {
        let email = self.email.trim().to_lowercase();
        let valid_email = (3..=254).contains(&email.len())
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if !valid_email {
            return Err(ApiError::invalid_field("email", "must be an email address"));
        }
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ApiError::invalid_field(
                "name",
                "must be 1 to 100 characters",
            ));
        }
        Ok((email, name))
    }
}

/// `PATCH /users/{id}/role`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    pub role: Role,
    #[serde(default)]
    pub confirmation_id: Option<String>,
}

/// `POST /users/{id}/disable` and `/enable` (the body may be `{}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmUserChange {
    #[serde(default)]
    pub confirmation_id: Option<String>,
}

/// A change to an existing user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    Role(Role),
    Disable,
    Enable,
}

impl UserChange {
    pub fn new_role(self) -> Option<Role> {
        match self {
            UserChange::Role(r) => Some(r),
            _ => None,
        }
    }

    /// What the change makes of the user. A role change and a disable revoke every existing
    /// sign-in (from `now`); enabling does not restore sign-ins an earlier change revoked.
    /// Repeating a change re-applies it (and revokes again): that is how a change whose
    /// directory update failed is completed.
    pub fn apply(
        self,
        profile: &UserProfile,
        access: Option<&UserAccess>,
        now: OffsetDateTime,
    ) -> (UserProfile, UserAccess) {
        let mut next_profile = profile.clone();
        let mut next = access.cloned().unwrap_or_else(|| UserAccess::new(profile));
        next.version = access.map_or(1, |a| a.version + 1);
        match self {
            UserChange::Role(r) => {
                next_profile.role = r;
                next.role = r;
                next.sessions_valid_after = Some(now.unix_timestamp());
            }
            UserChange::Disable => {
                next_profile.status = UserStatus::Disabled;
                next.status = UserStatus::Disabled;
                next.sessions_valid_after = Some(now.unix_timestamp());
            }
            UserChange::Enable => {
                next_profile.status = UserStatus::Active;
                next.status = UserStatus::Active;
            }
        }
        (next_profile, next)
    }

    /// For the person confirming.
    pub fn summary(self, profile: &UserProfile) -> String {
        match self {
            UserChange::Role(r) => format!(
                "Change the role of {} <{}> from {} to {}; every sign-in of theirs ends now",
                profile.name, profile.email, profile.role, r
            ),
            UserChange::Disable => format!(
                "Disable {} <{}> ({}); every sign-in of theirs ends now",
                profile.name, profile.email, profile.role
            ),
            UserChange::Enable => format!(
                "Enable {} <{}> ({}); they sign in again",
                profile.name, profile.email, profile.role
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(role: Role) -> UserProfile {
        UserProfile {
            user_id: UserId::parse("u-1").expect("user"),
            tenant_id: TenantId::parse("acme").expect("tenant"),
            email: "pat@example.com".into(),
            name: "Pat".into(),
            role,
            status: UserStatus::Active,
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn caller(role: Role, signed_in_at: Option<i64>) -> Admission {
        admission(&Caller {
            tenant: TenantId::parse("acme").expect("tenant"),
            user: UserId::parse("u-1").expect("user"),
            role,
            username: "pat".into(),
            sign_in_id: Some("s".into()),
            signed_in_at,
            auth_time: None,
        })
    }

    #[test]
    fn a_role_change_refuses_older_sign_ins_and_the_old_role() {
        let p = profile(Role::Admin);
        let access = UserAccess::new(&p);
        assert_eq!(access.admits(caller(Role::Admin, Some(100))), Ok(()));
        let at = OffsetDateTime::from_unix_timestamp(1_000).expect("time");
        let (p2, a2) = UserChange::Role(Role::Technician).apply(&p, Some(&access), at);
        assert_eq!(
            (p2.role, a2.role, a2.version),
            (Role::Technician, Role::Technician, 2)
        );
        // The old token: older sign-in, old role.
        assert_eq!(
            a2.admits(caller(Role::Admin, Some(900))),
            Err(AccessRefused::SessionsRevoked)
        );
        // A sign-in in the same second as the change is refused too (whole seconds).
        assert_eq!(
            a2.admits(caller(Role::Technician, Some(1_000))),
            Err(AccessRefused::SessionsRevoked)
        );
        // A later sign-in that still carries the old role (groups not updated yet): refused.
        assert_eq!(
            a2.admits(caller(Role::Admin, Some(1_001))),
            Err(AccessRefused::RoleChanged)
        );
        assert_eq!(a2.admits(caller(Role::Technician, Some(1_001))), Ok(()));
        // No sign-in time: cannot show it is newer.
        assert_eq!(
            a2.admits(caller(Role::Technician, None)),
            Err(AccessRefused::SessionsRevoked)
        );
    }

    #[test]
    fn disabled_users_are_refused_and_enabling_does_not_restore_old_sign_ins() {
        let p = profile(Role::Dispatcher);
        let at = OffsetDateTime::from_unix_timestamp(1_000).expect("time");
        let (p2, a2) = UserChange::Disable.apply(&p, None, at);
        assert_eq!((p2.status, a2.version), (UserStatus::Disabled, 1));
        assert_eq!(
            a2.admits(caller(Role::Dispatcher, Some(5_000))),
            Err(AccessRefused::Disabled)
        );
        let later = OffsetDateTime::from_unix_timestamp(2_000).expect("time");
        let (p3, a3) = UserChange::Enable.apply(&p2, Some(&a2), later);
        assert_eq!((p3.status, a3.version), (UserStatus::Active, 2));
        assert_eq!(
            a3.admits(caller(Role::Dispatcher, Some(900))),
            Err(AccessRefused::SessionsRevoked)
        );
        assert_eq!(a3.admits(caller(Role::Dispatcher, Some(1_500))), Ok(()));
    }

    #[test]
    fn users_without_an_access_record_keep_their_tokens_role() {
        assert_eq!(admit(None, caller(Role::Owner, None)), Ok(()));
    }

    #[test]
    fn invitations_need_an_email_and_a_name() {
        let invite = |email: &str, name: &str| InviteUser {
            email: email.into(),
            name: name.into(),
            role: Role::Dispatcher,
            confirmation_id: None,
        };
        assert_eq!(
            invite(" Pat@Example.COM ", " Pat ").validated(),
            Ok(("pat@example.com".into(), "Pat".into()))
        );
        for bad in [
            "",
            "pat",
            "pat@",
            "@example.com",
            "pat@example",
            "a b@example.com",
            "a@b@c.com",
        ] {
            assert!(invite(bad, "Pat").validated().is_err(), "{bad}");
        }
        assert!(invite("pat@example.com", " ").validated().is_err());
    }
}
