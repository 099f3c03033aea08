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
    /// The payment provider, when one is configured (payment routes answer 503 otherwise).
    pub payments: Option<PaymentSettings>,
    /// The API's public base URL, which customer links point at (`FV_PUBLIC_URL`).
    pub public_url: Option<String>,
    /// How long customer links live (`FV_LINK_TTL_MINUTES`, `FV_SIGN_IN_LINK_TTL_MINUTES`).
    pub link_ttls: fieldvault_core::link::LinkTtls,
    /// The evidence bucket (`FV_EVIDENCE_BUCKET`); evidence routes answer 503 without it.
    pub evidence_bucket: Option<String>,
    /// The data key's ARN for SSE-KMS headers (`FV_KMS_KEY_ARN`; locally derived from the id).
    pub kms_key_arn: String,
    /// Every secret a telephony webhook signature (and tenant token) may use, current first
    /// (`FV_TELEPHONY_WEBHOOK_SECRETS`, comma-separated); empty: the webhook answers 503.
    pub telephony_webhook_secrets: Vec<Vec<u8>>,
}

/// Comma-separated secrets of at least 16 bytes each.
pub fn secrets_from(name: &str, raw: &str) -> Result<Vec<Vec<u8>>, SettingsError> {
    let secrets: Vec<Vec<u8>> = raw
        .split(',')
        .map(|s| s.trim().as_bytes().to_vec())
        .filter(|s| !s.is_empty())
        .collect();
    if secrets.iter().any(|s| s.len() < 16) {
        return Err(SettingsError(format!(
            "every {name} entry must be at least 16 bytes"
        )));
    }
    Ok(secrets)
}

/// How to reach the payment provider and check its webhooks.
#[derive(Clone)]
pub struct PaymentSettings {
    /// The provider's API base URL.
    pub api_url: String,
    pub api_key: String,
    /// Every secret a webhook signature may use (current first; more during a rotation).
    pub webhook_secrets: Vec<Vec<u8>>,
    /// Where the provider's checkout sends the customer back (`{invoice_id}` is replaced).
    pub return_url: String,
}

impl PaymentSettings {
    /// From `FV_PAYMENTS_API_URL`, `FV_PAYMENTS_API_KEY`, `FV_PAYMENTS_WEBHOOK_SECRETS`
    /// (comma-separated) and `FV_PAYMENTS_RETURN_URL`; `None` if the API URL is unset.
    pub fn from_env() -> Result<Option<PaymentSettings>, SettingsError> {
        let Ok(api_url) = var("FV_PAYMENTS_API_URL") else {
            return Ok(None);
        };
        let webhook_secrets: Vec<Vec<u8>> = var("FV_PAYMENTS_WEBHOOK_SECRETS")?
            .split(',')
            .map(|s| s.trim().as_bytes().to_vec())
            .filter(|s| !s.is_empty())
            .collect();
        if webhook_secrets.iter().any(|s| s.len() < 16) {
            return Err(SettingsError(
                "every FV_PAYMENTS_WEBHOOK_SECRETS entry must be at least 16 bytes".into(),
            ));
        }
        Ok(Some(PaymentSettings {
            api_url: api_url.trim_end_matches('/').to_owned(),
            api_key: var("FV_PAYMENTS_API_KEY")?,
            webhook_secrets,
            return_url: var("FV_PAYMENTS_RETURN_URL")?,
        }))
    }
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
            payments: PaymentSettings::from_env()?,
            public_url: var("FV_PUBLIC_URL").ok(),
            link_ttls: link_ttls()?,
            user_pool_id: var("FV_USER_POOL_ID").ok(),
            evidence_bucket: var("FV_EVIDENCE_BUCKET").ok(),
            kms_key_arn: var("FV_KMS_KEY_ARN").unwrap_or_default(),
            telephony_webhook_secrets: secrets_from(
                "FV_TELEPHONY_WEBHOOK_SECRETS",
                &var("FV_TELEPHONY_WEBHOOK_SECRETS").unwrap_or_default(),
            )?,
        })
    }
}

fn minutes(name: &str) -> Result<Option<i64>, SettingsError> {
    var(name)
        .ok()
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| SettingsError(format!("{name} must be a number of minutes")))
        })
        .transpose()
}

fn link_ttls() -> Result<fieldvault_core::link::LinkTtls, SettingsError> {
    fieldvault_core::link::LinkTtls::new(
        minutes("FV_LINK_TTL_MINUTES")?,
        minutes("FV_SIGN_IN_LINK_TTL_MINUTES")?,
    )
    .ok_or_else(|| {
        SettingsError(
            "link lifetimes: documents 5 minutes to 90 days, sign-in 1 to 60 minutes".into(),
        )
    })
}
