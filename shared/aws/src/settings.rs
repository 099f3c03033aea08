//! Configuration from the environment, read once per container.
use fieldvault_core::cursor::CursorKey;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct SettingsError(pub String);

#[derive(Clone)]
pub struct Settings {
    pub data_table: String,
    pub audit_table: String,
    pub tenant_role_arn: String,
    pub cursor_key: CursorKey,
    pub region: String,
    /// Local emulators are in use: every tenant session's clients go through the policy guard.
    pub local: bool,
    /// The stack's name and data key, which the local guard needs to resolve the template.
    pub stack_name: String,
    pub kms_key_id: String,
    /// The Cognito user pool, for the user-management functions (their role may call its admin
    /// API; no other function's may).
    pub user_pool_id: Option<String>,
}

fn var(name: &str) -> Result<String, SettingsError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SettingsError(format!("{name} is not set")))
}

impl Settings {
    pub fn from_env() -> Result<Settings, SettingsError> {
        let secret = var("FV_CURSOR_SECRET")?;
        let cursor_key = CursorKey::new(secret.as_bytes())
            .ok_or_else(|| SettingsError("FV_CURSOR_SECRET must be at least 32 bytes".into()))?;
        Ok(Settings {
            data_table: var("FV_DATA_TABLE")?,
            audit_table: var("FV_AUDIT_TABLE")?,
            tenant_role_arn: var("FV_TENANT_ROLE_ARN")?,
            cursor_key,
            region: var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
            local: std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok_and(|v| !v.is_empty()),
            stack_name: var("FV_STACK_NAME").unwrap_or_else(|_| "fieldvault".into()),
            kms_key_id: var("FV_KMS_KEY_ID").unwrap_or_default(),
            user_pool_id: var("FV_USER_POOL_ID").ok(),
        })
    }
}
