//! Platform onboarding (an operator action, never self-signup): a tenant, its Cognito group,
//! its first users, and its own account at the payment provider (created here or linked). Tenancy is set only here, server-side: the tenant group and
//! `custom:tenant_id` are written with admin APIs no app client can call.
use aws_sdk_cognitoidentityprovider::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};
use aws_sdk_cognitoidentityprovider::Client as Cognito;
use fieldvault_core::audit::{diff, AuditRecord, Outcome};
use fieldvault_core::caller::{tenant_group_name, Role};
use fieldvault_core::ids::{AuditId, IdSource, SystemIds, TenantId, UserId};
use fieldvault_core::payment::{PaymentProvider, ProviderAccount};
use fieldvault_core::store::{Condition, StoreError, TenantStore, Write};
use fieldvault_core::user::{Tenant, UserAccess, UserProfile, UserStatus};
use fieldvault_core::user_admin::{DirectoryError, UserDirectory};
use time::OffsetDateTime;

use crate::session::SessionFactory;

#[derive(Debug, thiserror::Error)]
pub enum OnboardError {
    #[error("cognito: {0}")]
    Cognito(String),
    #[error("tenant session: {0}")]
    Session(String),
    #[error("the tenant already exists")]
    TenantExists,
    #[error("a user with this email already exists")]
    UserExists,
    #[error("store: {0}")]
    Store(StoreError),
    #[error("payment provider: {0}")]
    Payments(String),
    #[error("the tenant does not exist")]
    NoTenant,
}

/// The tenant's account at the payment provider: `linked` if the operator names an existing
/// one, otherwise a new one opened at `provider` (`None` when no provider is configured: the
/// tenant's payment routes then answer 409 until one is linked).
pub async fn payment_account<P: PaymentProvider>(
    provider: Option<&P>,
    linked: Option<&str>,
    tenant: &TenantId,
    name: &str,
) -> Result<Option<ProviderAccount>, OnboardError> {
    if let Some(raw) = linked {
        return ProviderAccount::parse(raw)
            .map(Some)
            .map_err(|e| OnboardError::Payments(e.to_string()));
    }
    match provider {
        Some(p) => p
            .create_account(tenant, name)
            .await
            .map(Some)
            .map_err(|e| OnboardError::Payments(e.to_string())),
        None => Ok(None),
    }
}

fn operator_audit(
    tenant: &TenantId,
    operator: &str,
    action: &str,
    before: Option<&serde_json::Value>,
    after: &serde_json::Value,
    now: OffsetDateTime,
) -> AuditRecord {
    AuditRecord {
        id: AuditId::new(SystemIds.ulid()),
        tenant_id: tenant.to_string(),
        at: now,
        actor_user: OPERATOR.into(),
        actor_role: OPERATOR.into(),
        actor_name: operator.to_owned(),
        action: action.into(),
        resource: format!("tenant/{tenant}"),
        request_id: ulid::Ulid::new().to_string(),
        source_ip: String::new(),
        user_agent: "fieldvault-ops".into(),
        outcome: Outcome::Success,
        reason: None,
        changes: diff(before, Some(after)),
    }
}

const OPERATOR: &str = "platform-operator";

/// Link (or replace) a tenant's payment provider account: the tenant record changes with its
/// audit record in one transaction, through the tenant's own session.
pub async fn link_payment_account(
    sessions: &SessionFactory,
    tenant: &TenantId,
    account: ProviderAccount,
    operator: &str,
) -> Result<Tenant, OnboardError> {
    let operator_id = UserId::parse(OPERATOR).map_err(|e| OnboardError::Session(e.to_string()))?;
    // The operator's act: locally, decided for the operator's role.
    let session = crate::session::acting_as(
        crate::session::execution_roles::OPERATOR,
        sessions.session(tenant, Role::Owner, &operator_id),
    )
    .await
    .map_err(|e| OnboardError::Session(e.to_string()))?;
    let stored = session
        .store()
        .get(&fieldvault_core::keys::tenant_profile(tenant))
        .await
        .map_err(OnboardError::Store)?
        .and_then(|i| serde_json::from_value::<Tenant>(serde_json::Value::Object(i)).ok())
        .ok_or(OnboardError::NoTenant)?;
    let before = serde_json::to_value(&stored).ok();
    let linked = Tenant {
        payment_account: Some(account),
        ..stored
    };
    let after = serde_json::json!(linked);
    let audit = operator_audit(
        tenant,
        operator,
        "tenant.link_payment_account",
        before.as_ref(),
        &after,
        OffsetDateTime::now_utc(),
    );
    let write = match linked.write() {
        Write::Put {
            key, index, item, ..
        } => Write::Put {
            key,
            index,
            item,
            condition: Condition::None,
        },
        other => other,
    };
    session
        .store()
        .commit(vec![write], &audit)
        .await
        .map_err(OnboardError::Store)?;
    Ok(linked)
}

/// A user to create in the tenant.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    /// A permanent password (demo and tests); `None` lets Cognito send an invitation.
    pub password: Option<String>,
}

fn cognito_err<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: aws_sdk_cognitoidentityprovider::error::SdkError<E>,
) -> OnboardError {
    OnboardError::Cognito(format!("{}", DisplayErrorContext(e)))
}

/// Create the Cognito user (or find it), put it in its tenant and role groups, return its `sub`.
pub async fn create_cognito_user(
    cognito: &Cognito,
    pool_id: &str,
    tenant: &TenantId,
    user: &NewUser,
) -> Result<UserId, OnboardError> {
    let id = create_login(cognito, pool_id, tenant, user).await?;
    grant_groups(cognito, pool_id, tenant, &user.email, user.role).await?;
    Ok(id)
}

/// Create the Cognito user with `custom:tenant_id` (set here, server-side, never by a client)
/// but in no group yet: until `grant_groups`, its tokens name no tenant or role and every
/// request is refused. Returns its `sub`.
pub async fn create_login(
    cognito: &Cognito,
    pool_id: &str,
    tenant: &TenantId,
    user: &NewUser,
) -> Result<UserId, OnboardError> {
    let attr = |n: &str, v: &str| {
        AttributeType::builder()
            .name(n)
            .value(v)
            .build()
            .map_err(|e| OnboardError::Cognito(e.to_string()))
    };
    let mut create = cognito
        .admin_create_user()
        .user_pool_id(pool_id)
        .username(&user.email)
        .user_attributes(attr("email", &user.email)?)
        .user_attributes(attr("email_verified", "true")?)
        .user_attributes(attr("custom:tenant_id", tenant.as_str())?);
    if user.password.is_some() {
        create = create.message_action(MessageActionType::Suppress);
    }
    let created = match create.send().await {
        Ok(c) => c,
        Err(e) if e.code() == Some("UsernameExistsException") => {
            return Err(OnboardError::UserExists)
        }
        Err(e) => return Err(cognito_err(e)),
    };
    if let Some(password) = &user.password {
        cognito
            .admin_set_user_password()
            .user_pool_id(pool_id)
            .username(&user.email)
            .password(password)
            .permanent(true)
            .send()
            .await
            .map_err(cognito_err)?;
    }
    let sub = created
        .user
        .and_then(|u| {
            u.attributes
                .unwrap_or_default()
                .into_iter()
                .find(|a| a.name == "sub")
        })
        .and_then(|a| a.value);
    let sub = match sub {
        Some(s) => s,
        None => {
            let got = cognito
                .admin_get_user()
                .user_pool_id(pool_id)
                .username(&user.email)
                .send()
                .await
                .map_err(cognito_err)?;
            got.user_attributes()
                .iter()
                .find(|a| a.name == "sub")
                .and_then(|a| a.value.clone())
                .ok_or_else(|| OnboardError::Cognito("user has no sub".into()))?
        }
    };
    UserId::parse(&sub).map_err(|e| OnboardError::Cognito(e.to_string()))
}

/// Put a user in its tenant group and `role`'s group, and out of every other role group: a
/// token then names exactly one tenant and one role. Repeating it is harmless.
pub async fn grant_groups(
    cognito: &Cognito,
    pool_id: &str,
    tenant: &TenantId,
    username: &str,
    role: Role,
) -> Result<(), OnboardError> {
    for group in [tenant_group_name(tenant), role.group_name().to_owned()] {
        cognito
            .admin_add_user_to_group()
            .user_pool_id(pool_id)
            .username(username)
            .group_name(group)
            .send()
            .await
            .map_err(cognito_err)?;
    }
    for other in Role::ALL.into_iter().filter(|r| *r != role) {
        cognito
            .admin_remove_user_from_group()
            .user_pool_id(pool_id)
            .username(username)
            .group_name(other.group_name())
            .send()
            .await
            .map_err(cognito_err)?;
    }
    Ok(())
}

/// The sign-in directory the user-management functions use: Cognito's admin API, called with
/// the function's own role (which holds exactly these admin actions on the stack's pool).
pub struct CognitoDirectory {
    cognito: Cognito,
    pool_id: String,
}

impl CognitoDirectory {
    pub fn new(cognito: Cognito, pool_id: String) -> CognitoDirectory {
        CognitoDirectory { cognito, pool_id }
    }
}

fn directory_error(e: OnboardError) -> DirectoryError {
    match e {
        OnboardError::UserExists => DirectoryError::Exists,
        other => DirectoryError::Unavailable(other.to_string()),
    }
}

impl UserDirectory for CognitoDirectory {
    async fn create_login(&self, tenant: &TenantId, email: &str) -> Result<UserId, DirectoryError> {
        let user = NewUser {
            email: email.to_owned(),
            name: String::new(),
            role: Role::Technician, // not granted here: the login is in no group yet
            password: None,
        };
        create_login(&self.cognito, &self.pool_id, tenant, &user)
            .await
            .map_err(directory_error)
    }

    async fn grant(
        &self,
        tenant: &TenantId,
        username: &str,
        role: Role,
    ) -> Result<(), DirectoryError> {
        grant_groups(&self.cognito, &self.pool_id, tenant, username, role)
            .await
            .map_err(directory_error)
    }

    async fn set_enabled(&self, username: &str, enabled: bool) -> Result<(), DirectoryError> {
        let result = if enabled {
            self.cognito
                .admin_enable_user()
                .user_pool_id(&self.pool_id)
                .username(username)
                .send()
                .await
                .map(|_| ())
                .map_err(cognito_err)
        } else {
            self.cognito
                .admin_disable_user()
                .user_pool_id(&self.pool_id)
                .username(username)
                .send()
                .await
                .map(|_| ())
                .map_err(cognito_err)
        };
        result.map_err(directory_error)
    }

    async fn sign_out_everywhere(&self, username: &str) -> Result<(), DirectoryError> {
        self.cognito
            .admin_user_global_sign_out()
            .user_pool_id(&self.pool_id)
            .username(username)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| directory_error(cognito_err(e)))
    }
}

/// The operator's configuration for onboarding: with `FV_OPERATOR_ROLE_ARN` set (the stack's
/// `OperatorRoleArn` output), the operator's credentials assume that role, the only principal
/// besides the functions that `TenantDataRole` trusts (for owner sessions as
/// platform-operator); without it, `sdk` as given (the local stack).
pub async fn operator_config(
    sdk: &aws_config::SdkConfig,
) -> Result<aws_config::SdkConfig, OnboardError> {
    let Ok(role) = std::env::var("FV_OPERATOR_ROLE_ARN") else {
        return Ok(sdk.clone());
    };
    let out = aws_sdk_sts::Client::new(sdk)
        .assume_role()
        .role_arn(role)
        .role_session_name("fieldvault-ops")
        .send()
        .await
        .map_err(|e| {
            OnboardError::Session(format!(
                "assuming the operator role: {}",
                aws_sdk_sts::error::DisplayErrorContext(e)
            ))
        })?;
    let c = out
        .credentials
        .ok_or_else(|| OnboardError::Session("STS returned no credentials".into()))?;
    let credentials = aws_credential_types::Credentials::new(
        c.access_key_id,
        c.secret_access_key,
        Some(c.session_token),
        std::time::SystemTime::try_from(c.expiration).ok(),
        "fieldvault-operator",
    );
    Ok(sdk
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .build())
}

/// Onboard a tenant with its first users and its payment provider account (see
/// `payment_account`). The tenant and user records are written in one transaction with their
/// audit record, through the new tenant's own session.
#[allow(clippy::too_many_arguments)]
pub async fn onboard_tenant(
    cognito: &Cognito,
    pool_id: &str,
    sessions: &SessionFactory,
    tenant: &TenantId,
    name: &str,
    users: &[NewUser],
    payment_account: Option<ProviderAccount>,
    operator: &str,
) -> Result<Vec<UserProfile>, OnboardError> {
    match cognito
        .create_group()
        .user_pool_id(pool_id)
        .group_name(tenant_group_name(tenant))
        .description(format!("Members of tenant {tenant}"))
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if e.code() == Some("GroupExistsException") => {
            return Err(OnboardError::TenantExists)
        }
        Err(e) => return Err(cognito_err(e)),
    }
    let now = OffsetDateTime::now_utc();
    let mut profiles = Vec::new();
    for u in users {
        let user_id = create_cognito_user(cognito, pool_id, tenant, u).await?;
        profiles.push(UserProfile {
            user_id,
            tenant_id: tenant.clone(),
            email: u.email.to_lowercase(),
            name: u.name.clone(),
            role: u.role,
            status: UserStatus::Active,
            created_at: now,
        });
    }
    let record = Tenant {
        tenant_id: tenant.clone(),
        name: name.to_owned(),
        created_at: now,
        payment_account,
    };
    let mut writes = vec![record.write()];
    writes.extend(profiles.iter().map(UserProfile::write));
    // Every user starts with an access record (read on each request; see user::admit).
    writes.extend(profiles.iter().map(|p| UserAccess::new(p).write(None)));
    let after = serde_json::json!({ "tenant": record, "users": profiles });
    let operator_id = UserId::parse(OPERATOR).map_err(|e| OnboardError::Session(e.to_string()))?;
    let audit = operator_audit(tenant, operator, "tenant.onboard", None, &after, now);
    // Onboarding is the operator's act: locally, decided for the operator's role.
    let session = crate::session::acting_as(
        crate::session::execution_roles::OPERATOR,
        sessions.session(tenant, Role::Owner, &operator_id),
    )
    .await
    .map_err(|e| OnboardError::Session(e.to_string()))?;
    session
        .store()
        .commit(writes, &audit)
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed { .. } => OnboardError::TenantExists,
            other => OnboardError::Store(other),
        })?;
    Ok(profiles)
}
