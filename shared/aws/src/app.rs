//! The request path every function shares: verified caller → tenant session → handler →
//! JSON or problem+json, with the security headers on every response.
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use aws_config::{BehaviorVersion, SdkConfig};
use fieldvault_core::actions::Action;
use fieldvault_core::audit::Outcome;
use fieldvault_core::authz::PolicyEngine;
use fieldvault_core::caller::{Caller, CallerError, Role};
use fieldvault_core::idempotency::{self, Begin, Claim};
use fieldvault_core::ids::{IdSource, SystemIds, TenantId, UserId};
use fieldvault_core::problem::{parse_json, ApiError, PROBLEM_CONTENT_TYPE, SECURITY_HEADERS};
use fieldvault_core::request::{AccessGate, Ctx, RequestMeta};
use fieldvault_core::store::TenantStore;
#[cfg(feature = "local")]
use fieldvault_core::template::Template;
use fieldvault_core::user::admission;
use fieldvault_core::user_admin::read_access;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;

use crate::dynamo::DynamoStore;
use crate::guard::PolicyGuard;
use crate::onboarding::CognitoDirectory;
use crate::payments::SandboxProvider;
use crate::session::{SessionFactory, TenantSession};
use crate::settings::Settings;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything a container builds once.
pub struct App {
    pub sessions: SessionFactory,
    pub policy: PolicyEngine,
    pub ids: Box<dyn IdSource>,
    /// The payment provider, if configured.
    pub payments: Option<SandboxProvider>,
    /// Sign-ins this container has already recorded (the store dedupes across containers).
    signed_in: Mutex<HashSet<String>>,
    /// Cognito's admin API, built on first use (only the user-management functions use it).
    directory: OnceLock<CognitoDirectory>,
    /// Tenants this container has found a link of (so they exist): only these get records
    /// of tokens that name no link.
    pub(crate) known_tenants: fieldvault_core::remembered::Remembered<TenantId, ()>,
    /// Refused links, recorded at most once a minute per tenant and link.
    pub(crate) refusals: fieldvault_core::portal::RefusalTally,
}

impl App {
    pub async fn from_env() -> Result<App, BoxError> {
        let settings = Settings::from_env()?;
        #[cfg(feature = "local")]
        let base = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(crate::bounds::timeouts())
            .retry_config(crate::bounds::retries())
            .load()
            .await;
        #[cfg(not(feature = "local"))]
        let base = lambda_sdk_config()?;
        App::new(base, settings)
    }

    pub fn new(base: SdkConfig, settings: Settings) -> Result<App, BoxError> {
        let guard = local_guard(&settings)?;
        App::with_sessions(SessionFactory::new(base, settings, guard))
    }

    /// An app over a session factory built elsewhere (the benchmark adds call counting).
    pub fn with_sessions(sessions: SessionFactory) -> Result<App, BoxError> {
        let payments = sessions
            .settings()
            .payments
            .clone()
            .map(SandboxProvider::new)
            .transpose()?;
        Ok(App {
            payments,
            sessions,
            policy: PolicyEngine::load()?,
            ids: Box::new(SystemIds),
            signed_in: Mutex::new(HashSet::new()),
            directory: OnceLock::new(),
            known_tenants: fieldvault_core::remembered::Remembered::new(4096),
            refusals: fieldvault_core::portal::RefusalTally::new(4096),
        })
    }

    /// The sign-in directory (user management). Called with the function's own role.
    pub fn directory(&self) -> Result<&CognitoDirectory, ApiError> {
        let pool = self
            .sessions
            .settings()
            .user_pool_id
            .clone()
            .ok_or_else(|| ApiError::Unavailable("no user pool is configured".into()))?;
        Ok(self.directory.get_or_init(|| {
            CognitoDirectory::new(
                aws_sdk_cognitoidentityprovider::Client::new(self.sessions.base()),
                pool,
            )
        }))
    }

    /// Authenticate the request and open the caller's tenant session.
    pub async fn begin(&self, req: &Request) -> Result<Exchange, ApiError> {
        let claims = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                .authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .map(|j| &j.claims),
            _ => None,
        };
        let claims = claims.ok_or_else(|| ApiError::Unauthenticated("no verified token".into()))?;
        let caller = Caller::from_claims(claims).map_err(|e| match e {
            CallerError::NoSingleTenant | CallerError::NoSingleRole => ApiError::Forbidden,
            other => ApiError::Unauthenticated(other.to_string()),
        })?;
        let mut exchange = self.exchange(req, caller).await?;
        exchange.access = Some(AccessGate::for_caller(&exchange.caller));
        if let Some(id) = &exchange.caller.sign_in_id {
            let seen = self
                .signed_in
                .lock()
                .map(|s| s.contains(id))
                .unwrap_or(false);
            if !seen {
                // Its transaction carries the access check: a refused user records nothing.
                if let Err(e) = self.ctx(&exchange, None).record_sign_in().await {
                    self.admit(&exchange).await?;
                    return Err(e);
                }
                if let Ok(mut s) = self.signed_in.lock() {
                    s.insert(id.clone());
                }
            }
        }
        Ok(exchange)
    }

    /// Whether the request's user is still admitted (`AccessGate`): already shown by a
    /// committed transaction, else one consistent GetItem of the user's access record, at most
    /// once per request however many callers ask. Principals without an access record
    /// (provider webhooks, customer links) are admitted by what opened their session.
    pub async fn admit(&self, ex: &Exchange) -> Result<(), ApiError> {
        match &ex.access {
            None => Ok(()),
            Some(gate) if gate.is_proven() => Ok(()),
            Some(gate) => ex
                .admission
                .get_or_init(|| self.check_access(ex, gate))
                .await
                .clone(),
        }
    }

    /// The payment provider, or 503 where none is configured.
    pub fn payments(&self) -> Result<&SandboxProvider, ApiError> {
        self.payments
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("no payment provider is configured".into()))
    }

    /// The provider's verified webhook acting in `tenant`: a session whose principal is the
    /// payment provider (a role no token can carry, which the policy lets only record
    /// payments). Call only after the signature checked out.
    pub async fn begin_as_provider(
        &self,
        req: &Request,
        tenant: TenantId,
        provider: &str,
    ) -> Result<Exchange, ApiError> {
        self.begin_as(
            req,
            tenant,
            &format!("provider-{provider}"),
            Role::PaymentProvider,
            format!("payment provider ({provider})"),
        )
        .await
    }

    /// The telephony provider's verified webhook acting in `tenant` (a role no token can carry,
    /// which the policy lets only record calls). Call only after the signatures checked out.
    pub async fn begin_as_telephony(
        &self,
        req: &Request,
        tenant: TenantId,
    ) -> Result<Exchange, ApiError> {
        self.begin_as(
            req,
            tenant,
            "telephony-provider",
            Role::TelephonyProvider,
            "telephony provider".into(),
        )
        .await
    }

    /// A request of a principal no token can carry (provider webhooks, customer links), acting
    /// in `tenant` through its own tenant session.
    pub(crate) async fn begin_as(
        &self,
        req: &Request,
        tenant: TenantId,
        user: &str,
        role: Role,
        username: String,
    ) -> Result<Exchange, ApiError> {
        let caller = Caller {
            tenant,
            user: UserId::parse(user).map_err(|_| ApiError::Internal)?,
            role,
            username,
            sign_in_id: None,
            signed_in_at: None,
            auth_time: None,
        };
        self.exchange(req, caller).await
    }

    async fn exchange(&self, req: &Request, caller: Caller) -> Result<Exchange, ApiError> {
        let session = self.session_for(&caller).await?;
        Ok(Self::exchange_with(req, caller, session))
    }

    /// A request of `caller` on a session opened for it.
    pub(crate) fn exchange_with(
        req: &Request,
        caller: Caller,
        session: Arc<TenantSession>,
    ) -> Exchange {
        Exchange {
            meta: request_meta(req),
            caller,
            session,
            access: None,
            admission: tokio::sync::OnceCell::new(),
        }
    }

    /// The caller's tenant session (cached per container: the one the request already uses).
    pub async fn session_for(&self, caller: &Caller) -> Result<Arc<TenantSession>, ApiError> {
        self.sessions.for_caller(caller).await.map_err(|e| {
            tracing::error!(error = %e, "tenant session");
            ApiError::Unavailable(e.to_string())
        })
    }

    /// The telephony webhook's secrets, or 503 where none are configured.
    pub fn telephony_secrets(&self) -> Result<&[Vec<u8>], ApiError> {
        let secrets = &self.sessions.settings().telephony_webhook_secrets;
        if secrets.is_empty() {
            Err(ApiError::Unavailable(
                "no telephony webhook secret is configured".into(),
            ))
        } else {
            Ok(secrets)
        }
    }

    /// Serve one request of an authenticated route: begin, run `logic` (with the request's
    /// `Idempotency-Key` honoured when `idempotent`), respond.
    ///
    /// No answer leaves before the user is admitted (`admit`), and no write commits unless
    /// its own transaction admits the user (`AccessGate`). So admission costs no round trip
    /// of its own: a write shows it in the transaction it makes anyway, and a read (GET) reads
    /// the access record at the same time as its data. Logic that reaches outside DynamoDB
    /// first (the payment provider, Cognito) is admitted before it runs (the macro's
    /// `with_app`, `with_directory`).
    pub async fn run<F>(&self, req: &Request, idempotent: bool, logic: F) -> Response<Body>
    where
        F: AsyncFnOnce(&Ctx<'_, DynamoStore>, &Exchange) -> Result<Reply, ApiError>,
    {
        let result = async {
            let exchange = self.begin(req).await?;
            let serve = self.serve(req, &exchange, idempotent, logic);
            if req.method() == http::Method::GET {
                // The handler's own reads go out first: they are the ones whose answers it
                // then works on (decoding, the policy decision, the reply) while the access
                // record's answer is still on its way.
                let (result, admitted) = tokio::join!(biased; serve, self.admit(&exchange));
                admitted.and(result)
            } else {
                let result = serve.await;
                self.admit(&exchange).await.and(result)
            }
        }
        .await;
        respond(req, result)
    }

    async fn serve<F>(
        &self,
        req: &Request,
        exchange: &Exchange,
        idempotent: bool,
        logic: F,
    ) -> Result<Reply, ApiError>
    where
        F: AsyncFnOnce(&Ctx<'_, DynamoStore>, &Exchange) -> Result<Reply, ApiError>,
    {
        if !idempotent || !idempotency::applies_to(exchange.caller.role) {
            return logic(&self.ctx(exchange, None), exchange).await;
        }
        match self.idempotency(exchange, req).await? {
            None => logic(&self.ctx(exchange, None), exchange).await,
            Some(Begin::Replay { status, body }) => Ok(Reply {
                status,
                body: body.to_string(),
                replayed: true,
            }),
            Some(Begin::Fresh(claim)) => {
                let result = logic(&self.ctx(exchange, Some(&claim)), exchange).await;
                // Kept as JSON with the marker (only requests that carry a key get here). The
                // body was serialized from a value just now, so it parses; the claim is
                // finished either way.
                let kept = result
                    .as_ref()
                    .map(|r| (r.status, serde_json::from_str(&r.body)));
                let (status, body, result) = match kept {
                    Ok((status, Ok(body))) => (status, body, result),
                    Ok((_, Err(_))) => (500, Value::Null, Err(ApiError::Internal)),
                    Err(e) => (e.status().as_u16(), Value::Null, result),
                };
                claim.finish(exchange.session.store(), status, &body).await;
                result
            }
        }
    }

    /// The access check by reading, for every function in this one place: the user's access
    /// record (one consistent GetItem, through the caller's own tenant session, which may read
    /// only its own user's record) must still admit the token: user active, the token's role
    /// still the user's role, the sign-in later than the last revocation. A role change or a
    /// disable therefore takes effect on the user's very next request, not at token expiry.
    /// A refusal is a 401 and an audit record (if that record fails, still a 401).
    async fn check_access(&self, ex: &Exchange, gate: &AccessGate) -> Result<(), ApiError> {
        let cx = self.ctx(ex, None);
        let c = &ex.caller;
        let record = read_access(&cx, &c.tenant, &c.user).await.map_err(|e| {
            tracing::error!(error = %e, "access record");
            e
        })?;
        let Err(refused) = fieldvault_core::user::admit(record.as_ref(), admission(c)) else {
            gate.prove();
            return Ok(());
        };
        let audit = cx.record(
            Action::SessionRefused,
            &format!("user/{}", c.user),
            Outcome::Denied,
            Some(refused.reason().into()),
            None,
            None,
        );
        if let Err(e) = ex.session.store().append_audit(&audit).await {
            tracing::warn!(error = %e, "recording a refused session");
        }
        Err(ApiError::Unauthenticated(refused.detail().into()))
    }

    pub fn ctx<'a>(
        &'a self,
        ex: &'a Exchange,
        idempotency: Option<&'a Claim>,
    ) -> Ctx<'a, DynamoStore> {
        Ctx {
            store: ex.session.store(),
            caller: &ex.caller,
            meta: &ex.meta,
            policy: &self.policy,
            ids: self.ids.as_ref(),
            cursors: &self.sessions.settings().cursor_key,
            idempotency,
            access: ex.access.as_ref(),
        }
    }

    /// For creating POSTs: claim the request's `Idempotency-Key`, or answer from the first
    /// request that used it. `None` when the request carries no key.
    pub async fn idempotency(
        &self,
        ex: &Exchange,
        req: &Request,
    ) -> Result<Option<Begin>, ApiError> {
        let Some(raw) = req.headers().get(idempotency::HEADER) else {
            return Ok(None);
        };
        let raw = raw
            .to_str()
            .map_err(|_| ApiError::invalid_field("Idempotency-Key", "must be visible ASCII"))?;
        let route = format!("{} {}", req.method(), req.uri().path());
        let store = ex.session.store();
        idempotency::begin(
            store,
            &ex.caller,
            &route,
            raw,
            req.body().as_ref(),
            ex.meta.received_at,
        )
        .await
        .map(Some)
    }
}

/// The SDK configuration a deployed function gets from Lambda's environment: its region and
/// its execution role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`), which is all Lambda provides. Not `aws_config`'s default chain
/// (profiles, SSO, IMDS, container and web-identity credentials, endpoint overrides), none of
/// which a function uses: leaving it out keeps its code out of every binary. Timeouts and
/// retries are ours (`bounds`), well inside the function's timeout.
#[cfg(not(feature = "local"))]
fn lambda_sdk_config() -> Result<SdkConfig, BoxError> {
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .map_err(|_| "AWS_REGION is not set")?;
    let credentials = aws_config::environment::EnvironmentVariableCredentialsProvider::new();
    Ok(SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .timeout_config(crate::bounds::timeouts())
        .retry_config(crate::bounds::retries())
        .build())
}

/// In local mode, the policy guard every tenant session's clients go through.
#[cfg(feature = "local")]
pub fn local_guard(settings: &Settings) -> Result<Option<Arc<PolicyGuard>>, BoxError> {
    if !settings.local {
        return Ok(None);
    }
    let names = crate::guard::LocalNames {
        region: settings.region.clone(),
        stack_name: settings.stack_name.clone(),
        kms_key_id: settings.kms_key_id.clone(),
    };
    Ok(Some(Arc::new(PolicyGuard::from_template(
        &Template::embedded()?,
        &names,
    )?)))
}

/// A build without the `local` feature (the deployable one) has no guard: pointed at local
/// emulators, which evaluate no IAM, it refuses to start rather than run unguarded.
#[cfg(not(feature = "local"))]
pub fn local_guard(settings: &Settings) -> Result<Option<Arc<PolicyGuard>>, BoxError> {
    if settings.local {
        return Err(
            "local endpoints are configured, but this build has no local policy guard \
                    (build with the `local` feature of fieldvault-aws)"
                .into(),
        );
    }
    Ok(None)
}

/// One authenticated request.
pub struct Exchange {
    pub caller: Caller,
    pub meta: RequestMeta,
    pub session: Arc<TenantSession>,
    /// A signed-in user's admission (`App::admit`); `None` for principals without an access
    /// record.
    access: Option<AccessGate>,
    /// The answer of the access record read, once per request.
    admission: tokio::sync::OnceCell<Result<(), ApiError>>,
}

fn request_meta(req: &Request) -> RequestMeta {
    let (request_id, source_ip, user_agent) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (
            ctx.request_id.clone(),
            ctx.http.source_ip.clone(),
            ctx.http.user_agent.clone(),
        ),
        _ => (None, None, None),
    };
    RequestMeta {
        request_id: request_id.unwrap_or_else(|| ulid::Ulid::new().to_string()),
        source_ip: source_ip.unwrap_or_default(),
        user_agent: user_agent.unwrap_or_default().chars().take(512).collect(),
        received_at: OffsetDateTime::now_utc(),
    }
}

/// A successful answer, its body already JSON text (serialized once, straight from the typed
/// value: no intermediate `Value`).
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Answered from an earlier request with the same `Idempotency-Key`.
    pub replayed: bool,
}

impl Reply {
    pub fn ok<T: serde::Serialize>(body: &T) -> Result<Reply, ApiError> {
        Reply::with_status(200, body)
    }
    pub fn created<T: serde::Serialize>(body: &T) -> Result<Reply, ApiError> {
        Reply::with_status(201, body)
    }
    /// 202: the first phase of a two-phase confirmation.
    pub fn accepted<T: serde::Serialize>(body: &T) -> Result<Reply, ApiError> {
        Reply::with_status(202, body)
    }
    fn with_status<T: serde::Serialize>(status: u16, body: &T) -> Result<Reply, ApiError> {
        let body = serde_json::to_string(body).map_err(|_| ApiError::Internal)?;
        Ok(Reply {
            status,
            body,
            replayed: false,
        })
    }
}

/// The strict JSON body of a request.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    parse_json(content_type, req.body().as_ref())
}

pub fn path_param(req: &Request, name: &str) -> Option<String> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_owned)
}

pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

/// Page size from `?limit=` (1..=100, default 25).
pub fn page_limit(req: &Request) -> Result<u32, ApiError> {
    match query_param(req, "limit") {
        None => Ok(25),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::invalid_field("limit", "must be a number from 1 to 100")),
    }
}

/// Turn a handler's result into the HTTP response: JSON or problem+json, headers always.
pub fn respond(req: &Request, result: Result<Reply, ApiError>) -> Response<Body> {
    let reply = match result {
        Ok(reply) => reply,
        Err(e) => {
            if e.status().is_server_error() {
                tracing::error!(error = %e, "request failed");
            } else {
                tracing::info!(error = %e, "request refused");
            }
            return problem_response(&e, req.uri().path());
        }
    };
    let replayed = reply.replayed;
    let mut response = with_headers(reply.status, "application/json", reply.body);
    if replayed {
        response.headers_mut().insert(
            "idempotent-replayed",
            http::HeaderValue::from_static("true"),
        );
    }
    response
}

/// The problem+json answer for `e` at `path`, with the security headers (and `Retry-After`
/// on a 503).
pub fn problem_response(e: &ApiError, path: &str) -> Response<Body> {
    let problem = e.problem(Some(path));
    with_headers(
        problem.status,
        PROBLEM_CONTENT_TYPE,
        serde_json::to_string(&problem).unwrap_or_default(),
    )
}

/// `SECURITY_HEADERS` as header names and values, parsed once per process rather than on
/// every response (a test checks every response carries all of them).
fn security_headers() -> &'static [(http::HeaderName, http::HeaderValue)] {
    static PARSED: OnceLock<Vec<(http::HeaderName, http::HeaderValue)>> = OnceLock::new();
    PARSED.get_or_init(|| {
        SECURITY_HEADERS
            .iter()
            .filter_map(|(name, value)| {
                let name = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
                Some((name, http::HeaderValue::from_str(value).ok()?))
            })
            .collect()
    })
}

/// A response with the security headers.
pub fn with_headers(status: u16, content_type: &str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    let content_type = http::HeaderValue::from_str(content_type)
        .unwrap_or(http::HeaderValue::from_static("application/octet-stream"));
    headers.reserve(1 + SECURITY_HEADERS.len());
    headers.insert(http::header::CONTENT_TYPE, content_type);
    for (name, value) in security_headers() {
        headers.insert(name.clone(), value.clone());
    }
    // Unavailable (a dependency stalled or refused): when to try again.
    if status == 503 {
        headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(crate::bounds::RETRY_AFTER_SECONDS),
        );
    }
    response
}

/// Set up JSON logs once per process. The level comes from `RUST_LOG` (`info`,
/// `fieldvault_aws=debug,info`), else from Lambda's `AWS_LAMBDA_LOG_LEVEL`, else `info`.
/// A target filter, not `EnvFilter`: no regular-expression engine in every binary.
pub fn init_tracing() {
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = ["RUST_LOG", "AWS_LAMBDA_LOG_LEVEL"]
        .iter()
        .find_map(|var| {
            std::env::var(var)
                .ok()?
                .to_lowercase()
                .parse::<Targets>()
                .ok()
        })
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .without_time(),
        )
        .with(filter)
        .try_init();
}

/// The Lambda entry point: tracing, clients once, then `handler` for every event.
///
/// The functions' `main` runs this on a current-thread Tokio runtime: Lambda hands a sandbox
/// one event at a time, so worker threads would add nothing but a cross-thread wake-up at
/// every await that waits for DynamoDB (measured by infra/bench.sh; README, "Performance").
/// Concurrent calls within a request (`tokio::join!`) still overlap on the one thread.
pub async fn serve<F, Fut>(handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static App, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    init_tracing();
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    let handler = Arc::new(handler);
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let handler = handler.clone();
        let answer = crate::bounds::bounded(req, move |req| handler(app, req));
        async move { Ok::<_, lambda_http::Error>(answer.await) }
    }))
    .await
}

/// Defines a function's `handle`: authenticate, open the tenant session, run `$logic`
/// (an `async fn(&Ctx<'_, DynamoStore>, &Request) -> Result<Reply, ApiError>`), respond.
/// Options after the logic: `idempotent` honours `Idempotency-Key` (creating POSTs);
/// `with_session` passes the tenant session too (for KMS); `with_app` passes the app (for
/// the payment provider); `with_directory` passes the sign-in directory (user management).
#[macro_export]
macro_rules! handler {
    ($logic:path) => {
        $crate::handler!(@define false, |cx, _ex, _app, req| $logic(cx, req).await);
    };
    ($logic:path, idempotent) => {
        $crate::handler!(@define true, |cx, _ex, _app, req| $logic(cx, req).await);
    };
    ($logic:path, with_session) => {
        $crate::handler!(@define false, |cx, ex, _app, req| $logic(cx, req, &ex.session).await);
    };
    // The app and the directory reach outside DynamoDB (the payment provider, Cognito), where
    // no transaction can carry the access check: such logic runs only once the user is
    // admitted.
    ($logic:path, with_app) => {
        $crate::handler!(@define false, |cx, ex, app, req| {
            app.admit(ex).await?;
            $logic(cx, req, app).await
        });
    };
    ($logic:path, idempotent, with_app) => {
        $crate::handler!(@define true, |cx, ex, app, req| {
            app.admit(ex).await?;
            $logic(cx, req, app).await
        });
    };
    ($logic:path, with_directory) => {
        $crate::handler!(@define false, |cx, ex, app, req| {
            app.admit(ex).await?;
            $logic(cx, req, app.directory()?).await
        });
    };
    ($logic:path, idempotent, with_directory) => {
        $crate::handler!(@define true, |cx, ex, app, req| {
            app.admit(ex).await?;
            $logic(cx, req, app.directory()?).await
        });
    };
    (@define $idempotent:expr, |$cx:ident, $ex:ident, $app:ident, $req:ident| $call:expr) => {
        /// The Lambda handler (also served by the local gateway).
        pub async fn handle(
            app: &$crate::App,
            req: ::lambda_http::Request,
        ) -> ::lambda_http::Response<::lambda_http::Body> {
            let $app = app;
            let $req = &req;
            app.run(&req, $idempotent, async |$cx, $ex| $call).await
        }
    };
}

/// Only in the deployable build (`cargo test -p fieldvault-aws --lib`, which leaves the
/// `local` feature off; infra/local/test.sh runs it).
#[cfg(all(test, not(feature = "local")))]
mod deployable_tests {
    use super::*;

    fn settings(local: bool) -> Settings {
        Settings {
            data_table: "data".into(),
            audit_table: "audit".into(),
            tenant_role_arn: "arn:aws:iam::123456789012:role/tenant".into(),
            cursor_key: fieldvault_core::cursor::CursorKey::new(&[7; 32])
                .unwrap_or_else(|| panic!("cursor key")),
            region: "us-east-1".into(),
            local,
            stack_name: "fieldvault".into(),
            kms_key_id: String::new(),
            user_pool_id: None,
            payments: None,
            public_url: None,
            link_ttls: fieldvault_core::link::LinkTtls::default(),
            evidence_bucket: None,
            kms_key_arn: String::new(),
            telephony_webhook_secrets: Vec::new(),
        }
    }

    /// Lambda's environment is all a deployed function reads: region and the execution role's
    /// credentials.
    #[tokio::test]
    async fn the_deployed_configuration_comes_from_lambdas_environment() {
        use aws_credential_types::provider::ProvideCredentials;
        std::env::set_var("AWS_REGION", "eu-west-2");
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret");
        std::env::set_var("AWS_SESSION_TOKEN", "session");
        let config = lambda_sdk_config().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-2"));
        let provider = config
            .credentials_provider()
            .unwrap_or_else(|| panic!("a credentials provider"));
        let credentials = provider
            .provide_credentials()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(credentials.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(credentials.session_token(), Some("session"));
        assert!(
            config.endpoint_url().is_none(),
            "no endpoint override is read"
        );
    }

    #[test]
    fn a_build_without_the_guard_refuses_to_run_against_local_endpoints() {
        let refused = local_guard(&settings(true));
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("no local policy guard")),
            "a deployable build pointed at emulators must not run unguarded"
        );
        assert!(matches!(local_guard(&settings(false)), Ok(None)));
    }
}

#[cfg(test)]
mod response_tests {
    use super::*;

    /// Every security header, with its value, on every response; the status and content
    /// type as asked.
    #[test]
    fn responses_carry_every_security_header() {
        let r = with_headers(404, PROBLEM_CONTENT_TYPE, "{}".into());
        assert_eq!(r.status(), 404);
        assert_eq!(
            r.headers()[http::header::CONTENT_TYPE],
            PROBLEM_CONTENT_TYPE
        );
        assert_eq!(security_headers().len(), SECURITY_HEADERS.len());
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(
                r.headers().get(*name).map(|v| v.as_bytes()),
                Some(value.as_bytes())
            );
        }
        assert_eq!(r.headers().len(), 1 + SECURITY_HEADERS.len());
    }
}
