//! Tenant sessions: per request, the function assumes the tenant data role with session tags
//! (tenant_id, role, user). Its policy only lets those credentials touch keys that start with
//! `T#<tenant>#`. The clients a handler can use come only from here.
//!
//! Which sessions a function may open is decided by STS from the tenant role's trust policy
//! and the function's execution role's policies. Locally (moto's STS applies no policy) the
//! policy guard evaluates those same documents from `template.yaml` before every AssumeRole,
//! for the execution role the code is acting as ([`acting_as`]): the local gateway runs each
//! route's handler as its function's role; other local processes name theirs.
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_sts::types::Tag;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use fieldvault_core::caller::{Caller, Role};
use fieldvault_core::ids::{TenantId, UserId};
use fieldvault_core::remembered::Remembered;

use crate::dynamo::DynamoStore;
use crate::fields::{Envelope, KmsDataKeys};
use crate::guard::{GuardedHttpClient, PolicyGuard, Service};
use crate::metrics::{CountingInterceptor, DynamoMetrics};
use crate::settings::Settings;

tokio::task_local! {
    /// The execution role (template logical id) the current task acts as, locally.
    static ACTING_AS: Arc<str>;
}

/// Run `work` as the function whose execution role is `role` (a template logical id): tenant
/// sessions it asks for are decided for that role. Only the local stack needs this (in AWS a
/// function's credentials are its role's); the local gateway wraps every handler in it.
pub async fn acting_as<F: Future>(role: &str, work: F) -> F::Output {
    ACTING_AS.scope(Arc::from(role), work).await
}

/// The execution role (logical id) the current task acts as, if one was named.
pub fn current_execution_role() -> Option<Arc<str>> {
    ACTING_AS.try_with(Arc::clone).ok()
}

/// The execution roles of the template's classes of function, by logical id.
pub mod execution_roles {
    pub const STAFF: &str = "FunctionRole";
    pub const USER_ADMIN: &str = "UserAdminFunctionRole";
    pub const PORTAL: &str = "PortalFunctionRole";
    pub const PAYMENT_WEBHOOK: &str = "PaymentWebhookFunctionRole";
    pub const TELEPHONY_WEBHOOK: &str = "TelephonyWebhookFunctionRole";
    pub const OPERATOR: &str = "OperatorRole";
}

/// The `user` tag of every portal session: one session per tenant serves every link (the
/// audit names the link; the session's user tag reaches nothing for customers).
pub const PORTAL_SESSION_USER: &str = "portal";

/// At most this many tenant sessions (and their SDK clients) are kept per container.
pub const SESSION_CACHE_BOUND: usize = 256;

/// Renew a cached session this long before its credentials expire.
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
const SESSION_SECONDS: i32 = 3600;

#[derive(Debug, thiserror::Error)]
#[error("tenant session: {0}")]
pub struct SessionError(pub String);

/// One tenant's scoped credentials and the clients built on them.
pub struct TenantSession {
    pub tenant: TenantId,
    pub role: Role,
    pub user: UserId,
    expires: SystemTime,
    kms_key_id: String,
    store: DynamoStore,
    kms: aws_sdk_kms::Client,
    s3: aws_sdk_s3::Client,
    evidence_bucket: Option<String>,
    kms_key_arn: String,
    /// Locally, the guard and tags presigned URLs are checked against at signing time.
    guard: Option<(Arc<PolicyGuard>, BTreeMap<String, String>)>,
}

impl TenantSession {
    pub fn store(&self) -> &DynamoStore {
        &self.store
    }
    pub fn kms(&self) -> &aws_sdk_kms::Client {
        &self.kms
    }

    /// The evidence bucket through this session (503 where no bucket is configured).
    pub fn objects(&self) -> Result<crate::objects::S3Objects, fieldvault_core::problem::ApiError> {
        let bucket = self.evidence_bucket.clone().ok_or_else(|| {
            fieldvault_core::problem::ApiError::Unavailable(
                "no evidence bucket is configured".into(),
            )
        })?;
        Ok(crate::objects::S3Objects {
            client: self.s3.clone(),
            bucket,
            kms_key_arn: self.kms_key_arn.clone(),
            tenant: self.tenant.clone(),
            guard: self.guard.clone(),
        })
    }

    /// The session's S3 client (tests use it to try what the guard must refuse).
    pub fn s3(&self) -> &aws_sdk_s3::Client {
        &self.s3
    }

    /// Sealed fields (KMS envelope encryption) through this session's KMS client: data keys
    /// are generated and decrypted under the field's encryption context, which IAM (and the
    /// local guard) accept only with this session's tenant in it.
    pub fn fields(&self) -> Envelope<KmsDataKeys> {
        Envelope::new(KmsDataKeys::new(self.kms.clone(), self.kms_key_id.clone()))
    }

    pub fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        self.store.client()
    }
    /// The session tags, as IAM sees them.
    pub fn tags(&self) -> BTreeMap<String, String> {
        session_tags(&self.tenant, self.role, &self.user)
    }
}

pub(crate) fn session_tags(
    tenant: &TenantId,
    role: Role,
    user: &UserId,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("tenant_id".to_owned(), tenant.to_string()),
        ("role".to_owned(), role.to_string()),
        ("user".to_owned(), user.to_string()),
    ])
}

/// (acting execution role, tenant, role, user).
type CacheKey = (Option<Arc<str>>, TenantId, Role, UserId);

/// Builds and caches tenant sessions for one container. Sessions are cached per
/// (tenant, role, user) so the `user` tag on the credentials is always true (and, locally,
/// per acting execution role, as each function's container has its own), at most
/// [`SESSION_CACHE_BOUND`] of them.
pub struct SessionFactory {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    settings: Settings,
    http: SharedHttpClient,
    guard: Option<Arc<PolicyGuard>>,
    cache: Remembered<CacheKey, Arc<TenantSession>>,
    assumed: std::sync::atomic::AtomicU64,
    /// AssumeRole calls by (tenant, session role), for the local stack's counters.
    assumed_by: Remembered<(TenantId, Role), u64>,
    metrics: Option<Arc<DynamoMetrics>>,
    /// Locally: the execution role this process acts as where no task names one.
    execution_role: Option<Arc<str>>,
    /// DynamoDB clients on the function's own credentials, by acting role (locally guarded
    /// by that role's policy).
    own_dynamodb: Mutex<HashMap<Option<Arc<str>>, aws_sdk_dynamodb::Client>>,
}

impl SessionFactory {
    pub fn new(
        base: SdkConfig,
        settings: Settings,
        guard: Option<Arc<PolicyGuard>>,
    ) -> SessionFactory {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https();
        SessionFactory {
            sts: aws_sdk_sts::Client::new(&base),
            base,
            settings,
            http,
            guard,
            cache: Remembered::new(SESSION_CACHE_BOUND),
            assumed: std::sync::atomic::AtomicU64::new(0),
            assumed_by: Remembered::new(16 * 1024),
            metrics: None,
            execution_role: std::env::var("FV_EXECUTION_ROLE")
                .ok()
                .filter(|r| !r.is_empty())
                .map(Arc::from),
            own_dynamodb: Mutex::new(HashMap::new()),
        }
    }

    /// Act as this execution role (a template logical id) where no task names one
    /// ([`acting_as`]); `FV_EXECUTION_ROLE` sets it from the environment.
    pub fn with_execution_role(mut self, role: &str) -> Self {
        self.execution_role = Some(Arc::from(role));
        self
    }

    /// The execution role the current request acts as.
    fn acting(&self) -> Option<Arc<str>> {
        current_execution_role().or_else(|| self.execution_role.clone())
    }

    /// How many AssumeRole calls this factory made for sessions of `role` in `tenant`.
    pub fn sts_calls_for(&self, tenant: &TenantId, role: Role) -> u64 {
        self.assumed_by.recall(&(tenant.clone(), role)).unwrap_or(0)
    }

    /// How many tenant sessions are cached (at most [`SESSION_CACHE_BOUND`]).
    pub fn cached_sessions(&self) -> usize {
        self.cache.len()
    }

    /// A DynamoDB client on the function's own execution role (not a tenant session): only
    /// the portal's link lookup uses one, and its role may only read link records. Locally
    /// its requests go through the guard with the acting role's policy.
    pub fn own_dynamodb(&self) -> Result<aws_sdk_dynamodb::Client, SessionError> {
        let acting = self.acting();
        let mut clients = self
            .own_dynamodb
            .lock()
            .map_err(|_| SessionError("own client cache poisoned".into()))?;
        if let Some(c) = clients.get(&acting) {
            return Ok(c.clone());
        }
        let http = match (&self.guard, &acting) {
            (Some(guard), Some(role)) => SharedHttpClient::new(GuardedHttpClient::for_function(
                self.http.clone(),
                guard.clone(),
                Service::DynamoDb,
                role,
            )),
            (Some(_), None) => {
                return Err(SessionError(
                    "no execution role is named for this local process".into(),
                ))
            }
            (None, _) => self.http.clone(),
        };
        let conf = aws_sdk_dynamodb::config::Builder::from(&self.base)
            .http_client(http)
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(conf);
        clients.insert(acting, client.clone());
        Ok(client)
    }

    /// Count every DynamoDB call and the capacity it consumed (the benchmark reads these).
    pub fn with_metrics(mut self, metrics: Arc<DynamoMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The function's own configuration (its execution role's credentials), for the few
    /// services a function calls as itself (Cognito's admin API for user management).
    pub fn base(&self) -> &SdkConfig {
        &self.base
    }

    /// How many times this factory has called STS (the benchmark reports it).
    pub fn sts_calls(&self) -> u64 {
        self.assumed.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub async fn for_caller(&self, caller: &Caller) -> Result<Arc<TenantSession>, SessionError> {
        self.session(&caller.tenant, caller.role, &caller.user)
            .await
    }

    pub async fn session(
        &self,
        tenant: &TenantId,
        role: Role,
        user: &UserId,
    ) -> Result<Arc<TenantSession>, SessionError> {
        let acting = self.guard.as_ref().and(self.acting());
        let key = (acting.clone(), tenant.clone(), role, user.clone());
        if let Some(s) = self.cached(&key) {
            return Ok(s);
        }
        if let Some(guard) = &self.guard {
            // What STS would refuse, refused here: moto's STS applies no policy.
            let caller = acting.as_deref().ok_or_else(|| {
                SessionError(
                    "AccessDenied: no execution role is named for this local process".into(),
                )
            })?;
            guard
                .decide_assume(caller, &session_tags(tenant, role, user))
                .map_err(|e| SessionError(format!("AccessDenied: {e}")))?;
        }
        let session = Arc::new(self.assume(tenant, role, user).await?);
        self.cache.remember(key, session.clone());
        Ok(session)
    }

    fn cached(&self, key: &CacheKey) -> Option<Arc<TenantSession>> {
        let s = self.cache.recall(key)?;
        let fresh = s
            .expires
            .duration_since(SystemTime::now())
            .is_ok_and(|left| left > RENEW_BEFORE_EXPIRY);
        fresh.then_some(s)
    }

    async fn assume(
        &self,
        tenant: &TenantId,
        role: Role,
        user: &UserId,
    ) -> Result<TenantSession, SessionError> {
        let tags = session_tags(tenant, role, user);
        let sts_tags = tags
            .iter()
            .map(|(k, v)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| SessionError(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Session names show up in CloudTrail; [\w+=,.@-]{2,64}.
        let session_name: String = format!("fv-{tenant}-{user}").chars().take(64).collect();
        self.assumed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let by = (tenant.clone(), role);
        let before = self.assumed_by.recall(&by).unwrap_or(0);
        self.assumed_by.remember(by, before.saturating_add(1));
        let out = self
            .sts
            .assume_role()
            .role_arn(&self.settings.tenant_role_arn)
            .role_session_name(session_name)
            .duration_seconds(SESSION_SECONDS)
            .set_tags(Some(sts_tags))
            .send()
            .await
            .map_err(|e| SessionError(format!("{}", aws_sdk_sts::error::DisplayErrorContext(e))))?;
        let creds = out
            .credentials
            .ok_or_else(|| SessionError("STS returned no credentials".into()))?;
        let expires = SystemTime::try_from(creds.expiration).unwrap_or_else(|_| SystemTime::now());
        let credentials = Credentials::new(
            creds.access_key_id,
            creds.secret_access_key,
            Some(creds.session_token),
            Some(expires),
            "fieldvault-tenant-session",
        );
        let http_for = |service: Service| -> SharedHttpClient {
            match &self.guard {
                Some(guard) => SharedHttpClient::new(GuardedHttpClient::new(
                    self.http.clone(),
                    guard.clone(),
                    service,
                    tags.clone(),
                )),
                None => self.http.clone(),
            }
        };
        let mut ddb_conf = aws_sdk_dynamodb::config::Builder::from(&self.base)
            .credentials_provider(credentials.clone())
            .http_client(http_for(Service::DynamoDb));
        if let Some(m) = &self.metrics {
            ddb_conf = ddb_conf.interceptor(CountingInterceptor(m.clone()));
        }
        let ddb_conf = ddb_conf.build();
        let kms_conf = aws_sdk_kms::config::Builder::from(&self.base)
            .credentials_provider(credentials.clone())
            .http_client(http_for(Service::Kms))
            .build();
        // Path-style locally (moto); virtual-hosted in AWS. Checksums only where S3 requires
        // them, so presigned PUTs bind exactly the headers we list.
        let s3_conf = aws_sdk_s3::config::Builder::from(&self.base)
            .credentials_provider(credentials)
            .http_client(http_for(Service::S3))
            .force_path_style(self.settings.local)
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .build();
        let kms_key_arn = if self.settings.kms_key_arn.is_empty() {
            format!(
                "arn:aws:kms:{}:{}:key/{}",
                self.settings.region,
                crate::guard::LOCAL_ACCOUNT,
                self.settings.kms_key_id
            )
        } else {
            self.settings.kms_key_arn.clone()
        };
        Ok(TenantSession {
            tenant: tenant.clone(),
            role,
            user: user.clone(),
            expires,
            kms_key_id: self.settings.kms_key_id.clone(),
            store: DynamoStore::new(
                aws_sdk_dynamodb::Client::from_conf(ddb_conf),
                tenant.clone(),
                self.settings.data_table.clone(),
                self.settings.audit_table.clone(),
            )
            .with_metrics(self.metrics.clone()),
            kms: aws_sdk_kms::Client::from_conf(kms_conf),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            evidence_bucket: self.settings.evidence_bucket.clone(),
            kms_key_arn,
            guard: self.guard.clone().map(|g| (g, tags.clone())),
        })
    }
}
