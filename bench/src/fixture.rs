//! The benchmark's world: the local stack provisioned and served in this process (app with
//! DynamoDB call counting, local gateway on a loopback port), one tenant with a user per role,
//! and the requests each benchmarked action sends.
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
use base64::Engine;
use fieldvault_aws::metrics::DynamoMetrics;
use fieldvault_aws::onboarding::{onboard_tenant, NewUser};
use fieldvault_aws::session::SessionFactory;
use fieldvault_aws::App;
use fieldvault_core::caller::Role;
use fieldvault_core::ids::{TenantId, UserId};
use fieldvault_core::payment::ProviderAccount;
use fieldvault_core::template::Template;
use fieldvault_tools::gateway::Gateway;
use fieldvault_tools::jwt::{stringify_claims, JwtVerifier};
use fieldvault_tools::provision::{provision, LocalStack};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};

use crate::Res;

pub const STACK_NAME: &str = "fv-bench";
pub const USER_AGENT: &str = "fieldvault-bench/0.1";
const PASSWORD: &str = "Bench-password-1!";

/// Unique phone numbers (contact points are unique per tenant): +1555 and seven digits.
static NEXT_PHONE: AtomicU64 = AtomicU64::new(1_000_000);

pub fn next_phone() -> String {
    format!("+1555{:07}", NEXT_PHONE.fetch_add(1, Ordering::Relaxed))
}

/// The benchmarked actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// `POST /intake` from a caller no customer has: creates customer, lead and task.
    Intake,
    /// `POST /intake` from a known phone: matches the customer, creates lead and task.
    IntakeKnown,
    Create,
    Get,
    List,
    /// `GET /customers/{id}/timeline` of a seeded customer.
    Timeline,
    /// `POST /invoices/{id}/issue` of a seeded draft (a new one per request).
    IssueInvoice,
    /// `POST /webhooks/payments`: the provider's signed `payment.succeeded` for a checkout of
    /// an invoice the issue case issued (a new invoice and event per request).
    PaymentWebhook,
}

impl Case {
    /// In this order: the webhook pays the invoices the issue case issued.
    pub const ALL: [Case; 8] = [
        Case::Intake,
        Case::IntakeKnown,
        Case::Create,
        Case::Get,
        Case::List,
        Case::Timeline,
        Case::IssueInvoice,
        Case::PaymentWebhook,
    ];
    /// The actions the throughput phase runs (not issuing: concurrent issues in one tenant
    /// queue on its gapless invoice counter by design).
    pub const MAIN: [Case; 5] = [
        Case::Intake,
        Case::Create,
        Case::Get,
        Case::List,
        Case::Timeline,
    ];

    /// `--cases get_customer,list_customers`: those, in the order of `ALL`. The webhook pays
    /// what the issue case issued, so it needs that case too.
    pub fn parse_list(raw: &str) -> Result<Vec<Case>, String> {
        let keys: Vec<&str> = raw.split(',').map(str::trim).collect();
        if let Some(unknown) = keys
            .iter()
            .find(|k| !Case::ALL.iter().any(|c| c.key() == **k))
        {
            let known: Vec<&str> = Case::ALL.iter().map(|c| c.key()).collect();
            return Err(format!(
                "unknown case {unknown:?} (one of {})",
                known.join(", ")
            ));
        }
        let cases: Vec<Case> = Case::ALL
            .into_iter()
            .filter(|c| keys.contains(&c.key()))
            .collect();
        if cases.contains(&Case::PaymentWebhook) && !cases.contains(&Case::IssueInvoice) {
            return Err("payment_webhook pays the invoices issue_invoice issues: add it".into());
        }
        Ok(cases)
    }

    pub fn key(self) -> &'static str {
        match self {
            Case::Intake => "intake",
            Case::IntakeKnown => "intake_known_caller",
            Case::Create => "create_customer",
            Case::Get => "get_customer",
            Case::List => "list_customers",
            Case::Timeline => "customer_timeline",
            Case::IssueInvoice => "issue_invoice",
            Case::PaymentWebhook => "payment_webhook",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Case::Intake => "intake (new caller)",
            Case::IntakeKnown => "intake (known caller)",
            Case::Create => "create customer",
            Case::Get => "get customer",
            Case::List => "list customers",
            Case::Timeline => "customer timeline",
            Case::IssueInvoice => "issue invoice",
            Case::PaymentWebhook => "payment webhook (checkout paid)",
        }
    }
    pub fn route(self) -> &'static str {
        match self {
            Case::Intake | Case::IntakeKnown => "POST /intake",
            Case::Create => "POST /customers",
            Case::Get => "GET /customers/{id}",
            Case::List => "GET /customers?limit=25",
            Case::Timeline => "GET /customers/{id}/timeline",
            Case::IssueInvoice => "POST /invoices/{id}/issue",
            Case::PaymentWebhook => "POST /webhooks/payments",
        }
    }
    /// The template function (the local gateway's registry key).
    pub fn function(self) -> &'static str {
        match self {
            Case::Intake | Case::IntakeKnown => "IntakeFunction",
            Case::Create => "CreateCustomerFunction",
            Case::Get => "GetCustomerFunction",
            Case::List => "ListCustomersFunction",
            Case::Timeline => "GetTimelineFunction",
            Case::IssueInvoice => "IssueInvoiceFunction",
            Case::PaymentWebhook => "PaymentWebhookFunction",
        }
    }
    pub fn expected_status(self) -> u16 {
        match self {
            Case::Intake | Case::IntakeKnown | Case::Create => 201,
            Case::Get | Case::List | Case::Timeline | Case::IssueInvoice | Case::PaymentWebhook => {
                200
            }
        }
    }

    /// Whether an answer is the one the case measures: its status, and for the webhook a
    /// payment recorded (a duplicate also answers 200).
    pub fn accepts(self, status: u16, body: &[u8]) -> bool {
        status == self.expected_status()
            && (self != Case::PaymentWebhook
                || serde_json::from_slice::<Value>(body)
                    .is_ok_and(|v| v["duplicate"] == false && v["payment_id"].is_string()))
    }
}

/// One request of a case, in the pieces both the gateway (HTTP) and a handler event need.
#[derive(Debug, Clone)]
pub struct Spec {
    pub method: &'static str,
    /// The route as template.yaml declares it (`/customers/{id}`).
    pub route: &'static str,
    pub path: String,
    pub query: Option<(&'static str, String)>,
    pub param: Option<(&'static str, String)>,
    pub body: Option<Value>,
    /// A provider webhook's signature header (the route is public: no token is sent).
    pub signature: Option<String>,
}

pub struct User {
    pub role: Role,
    pub id: UserId,
    pub token: String,
    /// The access token's claims as API Gateway hands them to a function (strings).
    pub claims: Map<String, Value>,
}

/// A customer created while seeding: its id and phone.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub id: String,
    pub phone: String,
}

pub struct Fixture {
    pub app: &'static App,
    pub metrics: Arc<DynamoMetrics>,
    pub stack: LocalStack,
    pub api: String,
    /// For concurrent load (a pool of connections).
    pub http: reqwest::Client,
    /// For the sequential stages: one kept-alive HTTP/1.1 connection with hyper's own client
    /// (no pool, no client-library layers), so a stage's time is the gateway's, not a client's.
    direct: tokio::sync::Mutex<http1::SendRequest<Full<Bytes>>>,
    /// A plain DynamoDB client: base credentials, no STS, no policy guard, no counting.
    pub bare: aws_sdk_dynamodb::Client,
    pub tenant: TenantId,
    pub users: Vec<User>,
    pub customers: Vec<Seeded>,
    /// Draft invoices to issue, one per request (`seed_drafts`), handed out in order.
    pub drafts: Vec<String>,
    next_draft: AtomicUsize,
    /// The next of `drafts` (issued by then) the webhook case pays.
    next_paid: AtomicUsize,
    /// The payment provider's webhook signing secret (the app is configured with it).
    pub webhook_secret: Vec<u8>,
    /// The tenant's account at the provider, which its payment events happen on.
    pub payment_account: ProviderAccount,
}

/// What each benchmarked checkout pays: less than an issued bench invoice (149.00 + 8% tax),
/// so all of it is allocated and the invoice stays issued with a balance.
pub const PAID_MINOR: i64 = 10_000;
/// The provider principal the webhook acts as (`App::begin_as_provider`).
pub const PROVIDER: &str = "sandbox";

/// Refuse to run against anything but emulators on loopback.
fn check_loopback() -> Res<()> {
    for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"] {
        let v = std::env::var(var).unwrap_or_default();
        if !v.starts_with("http://127.0.0.1:") {
            return Err(format!(
                "{var}={v:?}: the benchmark only runs against the local stack on 127.0.0.1 (use infra/bench.sh)"
            )
            .into());
        }
    }
    Ok(())
}

fn decode_claims(token: &str) -> Res<Map<String, Value>> {
    let payload = token.split('.').nth(1).ok_or("access token is not a JWT")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| format!("access token payload: {e}"))?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|e| format!("access token claims: {e}"))?;
    Ok(stringify_claims(&claims))
}

pub fn customer_body(phone: &str) -> Value {
    json!({
        "name": format!("Bench customer {}", &phone[5..]),
        "contact_points": [{"kind": "phone", "value": phone, "sms_consent": true}],
        "service_locations": [{"label": "Home", "address": {
            "line1": "1 Main St", "city": "Springfield", "region": "IL", "postal_code": "62701"}}]
    })
}

pub fn intake_body(phone: &str) -> Value {
    json!({
        "source": "call",
        "contact": {"name": "Pat Doe", "phone": phone, "sms_consent": true},
        "notes": "No heat upstairs"
    })
}

impl Fixture {
    /// Provision the stack, serve the gateway, onboard a tenant and sign its users in.
    pub async fn setup() -> Res<Fixture> {
        check_loopback()?;
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        let stack = provision(&sdk, STACK_NAME)
            .await
            .map_err(|e| format!("provisioning the local stack: {e}"))?;
        let mut settings = stack.settings(true)?;
        // The webhook verifies signatures with this secret; the provider's API is never called
        // by the benchmarked actions (a closed port, so a call would fail loudly).
        let webhook_secret: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
        settings.payments = Some(fieldvault_aws::settings::PaymentSettings {
            api_url: "http://127.0.0.1:9".into(),
            api_key: "bench".into(),
            webhook_secrets: vec![webhook_secret.clone()],
            return_url: "http://127.0.0.1:9/invoices/{invoice_id}/paid".into(),
        });
        let metrics = Arc::new(DynamoMetrics::default());
        let guard = fieldvault_aws::app::local_guard(&settings)?;
        if guard.is_none() {
            return Err("the local policy guard is off: settings are not local".into());
        }
        let sessions =
            SessionFactory::new(sdk.clone(), settings, guard).with_metrics(metrics.clone());
        let app: &'static App = Box::leak(Box::new(App::with_sessions(sessions)?));

        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let api = format!("http://{addr}");
        let gateway = Arc::new(Gateway::from_template(
            app,
            &Template::embedded()?,
            JwtVerifier::new(
                stack.issuer.clone(),
                vec![stack.client_id.clone()],
                stack.jwks_url.clone(),
            ),
        )?);
        tokio::spawn(async move {
            if let Err(e) = gateway.serve(listener).await {
                eprintln!("fieldvault-bench: gateway stopped: {e}");
            }
        });
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (direct, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                eprintln!("fieldvault-bench: connection to the gateway closed: {e}");
            }
        });
        let http = reqwest::Client::builder()
            .no_proxy()
            .user_agent(USER_AGENT)
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(128)
            .build()?;

        let tenant = TenantId::parse(&format!(
            "bench-{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ))
        .map_err(|e| format!("tenant id: {e}"))?;
        let new_users: Vec<NewUser> = Role::ALL
            .iter()
            .map(|r| NewUser {
                email: format!("{r}@{tenant}.bench"),
                name: format!("Bench {r}"),
                role: *r,
                password: Some(PASSWORD.into()),
            })
            .collect();
        let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
        // Linked, not opened: the provider's API is never called by the benchmarked actions.
        let payment_account = ProviderAccount::parse(&format!("acct_{}", ulid::Ulid::new()))
            .map_err(|e| format!("payment account: {e}"))?;
        let profiles = onboard_tenant(
            &cognito,
            &stack.user_pool_id,
            &app.sessions,
            &tenant,
            "Bench Heating & Plumbing",
            &new_users,
            Some(payment_account.clone()),
            "fieldvault-bench",
        )
        .await
        .map_err(|e| format!("onboarding the bench tenant: {e}"))?;
        let mut users = Vec::new();
        for p in profiles {
            let out = cognito
                .admin_initiate_auth()
                .user_pool_id(&stack.user_pool_id)
                .client_id(&stack.client_id)
                .auth_flow(AuthFlowType::AdminUserPasswordAuth)
                .auth_parameters("USERNAME", &p.email)
                .auth_parameters("PASSWORD", PASSWORD)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "sign-in of {}: {}",
                        p.email,
                        aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e)
                    )
                })?;
            let token = out
                .authentication_result
                .and_then(|r| r.access_token)
                .ok_or_else(|| format!("sign-in of {}: no access token", p.email))?;
            users.push(User {
                role: p.role,
                id: p.user_id,
                claims: decode_claims(&token)?,
                token,
            });
        }
        Ok(Fixture {
            app,
            metrics,
            bare: aws_sdk_dynamodb::Client::new(&sdk),
            stack,
            api,
            http,
            direct: tokio::sync::Mutex::new(direct),
            tenant,
            users,
            customers: Vec::new(),
            drafts: Vec::new(),
            next_draft: AtomicUsize::new(0),
            next_paid: AtomicUsize::new(0),
            webhook_secret,
            payment_account,
        })
    }

    /// The user every benchmarked request is made as.
    pub fn owner(&self) -> &User {
        self.users
            .iter()
            .find(|u| u.role == Role::Owner)
            .unwrap_or(&self.users[0])
    }

    /// Create `n` customers through the gateway (reads and intake of known callers use them).
    pub async fn seed(&mut self, n: usize) -> Res<()> {
        for _ in 0..n {
            let phone = next_phone();
            let spec = Spec {
                method: "POST",
                route: "/customers",
                path: "/customers".into(),
                query: None,
                param: None,
                body: Some(customer_body(&phone)),
                signature: None,
            };
            let (status, body) = self.call(&spec, &self.owner().token).await?;
            if status != 201 {
                return Err(format!(
                    "seeding: POST /customers answered {status}: {}",
                    String::from_utf8_lossy(&body)
                )
                .into());
            }
            let v: Value = serde_json::from_slice(&body)?;
            let id = v["id"]
                .as_str()
                .ok_or("seeding: created customer without id")?;
            self.customers.push(Seeded {
                id: id.to_owned(),
                phone,
            });
        }
        Ok(())
    }

    /// Create `n` draft invoices (one line each) for the seeded customers, through the gateway.
    pub async fn seed_drafts(&mut self, n: usize) -> Res<()> {
        for i in 0..n {
            let customer = &self.customers[i % self.customers.len().max(1)];
            let spec = Spec {
                method: "POST",
                route: "/invoices",
                path: "/invoices".into(),
                query: None,
                param: None,
                body: Some(json!({
                    "customer_id": customer.id,
                    "lines": [{"description": "Tune-up", "quantity": "1", "unit_price_minor": 14900, "tax_rate": "8"}],
                })),
                signature: None,
            };
            let (status, body) = self.call(&spec, &self.owner().token).await?;
            if status != 201 {
                return Err(format!(
                    "seeding: POST /invoices answered {status}: {}",
                    String::from_utf8_lossy(&body)
                )
                .into());
            }
            let v: Value = serde_json::from_slice(&body)?;
            let id = v["id"].as_str().ok_or("seeding: draft without id")?;
            self.drafts.push(id.to_owned());
        }
        Ok(())
    }

    /// Request `i` of a case (new phone numbers for creating requests).
    pub fn spec(&self, case: Case, i: usize) -> Spec {
        let seeded = &self.customers[i % self.customers.len().max(1)];
        match case {
            Case::Intake | Case::IntakeKnown => {
                let phone = if case == Case::Intake {
                    next_phone()
                } else {
                    seeded.phone.clone()
                };
                Spec {
                    method: "POST",
                    route: "/intake",
                    path: "/intake".into(),
                    query: None,
                    param: None,
                    body: Some(intake_body(&phone)),
                    signature: None,
                }
            }
            Case::Create => Spec {
                method: "POST",
                route: "/customers",
                path: "/customers".into(),
                query: None,
                param: None,
                body: Some(customer_body(&next_phone())),
                signature: None,
            },
            Case::Get => Spec {
                method: "GET",
                route: "/customers/{id}",
                path: format!("/customers/{}", seeded.id),
                query: None,
                param: Some(("id", seeded.id.clone())),
                body: None,
                signature: None,
            },
            Case::List => Spec {
                method: "GET",
                route: "/customers",
                path: "/customers".into(),
                query: Some(("limit", "25".into())),
                param: None,
                body: None,
                signature: None,
            },
            Case::Timeline => Spec {
                method: "GET",
                route: "/customers/{id}/timeline",
                path: format!("/customers/{}/timeline", seeded.id),
                query: None,
                param: Some(("id", seeded.id.clone())),
                body: None,
                signature: None,
            },
            Case::IssueInvoice => {
                let id = self.take_draft(&self.next_draft);
                Spec {
                    method: "POST",
                    route: "/invoices/{id}/issue",
                    path: format!("/invoices/{id}/issue"),
                    query: None,
                    param: Some(("id", id)),
                    body: None,
                    signature: None,
                }
            }
            Case::PaymentWebhook => {
                let invoice = self.take_draft(&self.next_paid);
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let event = ulid::Ulid::new();
                // As the sandbox provider sends it (infra/tools/src/sandbox.rs).
                let body = json!({
                    "id": format!("evt_{event}"),
                    "type": "payment.succeeded",
                    "account": self.payment_account,
                    "created": now,
                    "data": {
                        "payment": {
                            "id": format!("pay_{event}"), "account": self.payment_account,
                            "amount_minor": PAID_MINOR,
                            "currency": "USD", "status": "succeeded", "method": "card",
                            "brand": "visa", "last4": "4242",
                        },
                        "metadata": { "tenant_id": self.tenant, "invoice_id": invoice },
                    },
                });
                let signature = fieldvault_core::webhook::sign(
                    &self.webhook_secret,
                    now,
                    body.to_string().as_bytes(),
                );
                Spec {
                    method: "POST",
                    route: "/webhooks/payments",
                    path: "/webhooks/payments".into(),
                    query: None,
                    param: None,
                    body: Some(body),
                    signature: Some(signature),
                }
            }
        }
    }

    /// The next of the seeded drafts by `counter` (issuing and paying each walk them in order);
    /// past the last, an id no invoice has (that request then fails visibly).
    fn take_draft(&self, counter: &AtomicUsize) -> String {
        let i = counter.fetch_add(1, Ordering::Relaxed);
        self.drafts
            .get(i)
            .cloned()
            .unwrap_or_else(|| "none-left".into())
    }

    /// Send a request through the local gateway from the connection pool (concurrent load
    /// may call this from many tasks); the status and the whole body.
    pub async fn call(&self, spec: &Spec, token: &str) -> Res<(u16, Vec<u8>)> {
        let (method, uri, headers, body) = self.request_parts(spec, token)?;
        let mut req = self
            .http
            .request(method, format!("{}{uri}", self.api))
            .headers(headers);
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await?;
        Ok((status, body.to_vec()))
    }

    /// What a client sends the gateway for `spec`: method, path and query, headers, body.
    fn request_parts(
        &self,
        spec: &Spec,
        token: &str,
    ) -> Res<(http::Method, String, http::HeaderMap, Option<String>)> {
        let mut uri = spec.path.clone();
        if let Some((k, v)) = &spec.query {
            uri.push_str(&format!("?{k}={v}"));
        }
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::USER_AGENT, USER_AGENT.parse()?);
        match &spec.signature {
            Some(signature) => headers.insert(
                fieldvault_core::webhook::SIGNATURE_HEADER,
                signature.parse()?,
            ),
            None => headers.insert(
                http::header::AUTHORIZATION,
                format!("Bearer {token}").parse()?,
            ),
        };
        let body = spec.body.as_ref().map(|b| b.to_string());
        if body.is_some() {
            headers.insert(http::header::CONTENT_TYPE, "application/json".parse()?);
        }
        Ok((
            http::Method::from_bytes(spec.method.as_bytes())?,
            uri,
            headers,
            body,
        ))
    }

    /// The HTTP request the sequential stages send the gateway for `spec` (`send`).
    pub fn http_request(&self, spec: &Spec, token: &str) -> Res<hyper::Request<Full<Bytes>>> {
        let (method, uri, headers, body) = self.request_parts(spec, token)?;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::HOST, self.api.trim_start_matches("http://"))
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        req.headers_mut().extend(headers);
        Ok(req)
    }

    /// Send a built request on the sequential stages' connection; the status and the whole
    /// body.
    pub async fn send(&self, request: hyper::Request<Full<Bytes>>) -> Res<(u16, Vec<u8>)> {
        let mut direct = self.direct.lock().await;
        direct.ready().await?;
        let resp = direct.send_request(request).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body.to_vec()))
    }

    /// The API Gateway HTTP API (payload 2.0) event the gateway would build for this request.
    pub fn event(&self, spec: &Spec, user: &User) -> Value {
        let raw_query = spec
            .query
            .as_ref()
            .map(|(k, v)| format!("{k}={v}"))
            .unwrap_or_default();
        let route_key = format!("{} {}", spec.method, spec.route);
        let now = time::OffsetDateTime::now_utc();
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": spec.path,
            "rawQueryString": raw_query,
            "headers": {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "host": self.api.trim_start_matches("http://"),
            },
            "requestContext": {
                "accountId": fieldvault_aws::guard::LOCAL_ACCOUNT,
                "apiId": "local",
                "domainName": "127.0.0.1",
                "domainPrefix": "local",
                "http": {
                    "method": spec.method,
                    "path": spec.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": USER_AGENT,
                },
                "requestId": ulid::Ulid::new().to_string(),
                "routeKey": route_key,
                "stage": "$default",
                "time": now.format(&time::format_description::well_known::Rfc2822).unwrap_or_default(),
                "timeEpoch": (now.unix_timestamp_nanos() / 1_000_000) as i64,
                "authorizer": {"jwt": {"claims": user.claims, "scopes": null}},
            },
            "isBase64Encoded": false,
        });
        if let Some(signature) = &spec.signature {
            // A public route: no authorizer, the provider's signature instead.
            event["headers"][fieldvault_core::webhook::SIGNATURE_HEADER] = json!(signature);
            if let Some(context) = event["requestContext"].as_object_mut() {
                context.remove("authorizer");
            }
        }
        if let Some((k, v)) = &spec.query {
            event["queryStringParameters"] = json!({ *k: v });
        }
        if let Some((k, v)) = &spec.param {
            event["pathParameters"] = json!({ *k: v });
        }
        if let Some(b) = &spec.body {
            event["body"] = Value::String(b.to_string());
        }
        event
    }

    /// The same request as a `lambda_http::Request`, for calling a handler in-process.
    pub fn request(&self, spec: &Spec, user: &User) -> Res<lambda_http::Request> {
        lambda_http::request::from_str(&self.event(spec, user).to_string())
            .map_err(|e| format!("building a Lambda event: {e}").into())
    }
}
