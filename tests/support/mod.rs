//! What the system tests share: a connection to the local stack that `infra/local/test.sh`
//! started (its settings arrive as environment variables), fresh tenants with one user per
//! role, and an HTTP client for the local gateway.
#![allow(clippy::missing_panics_doc)]

pub mod security;

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
use fieldvault_aws::onboarding::{onboard_tenant, payment_account, NewUser};
use fieldvault_aws::payments::SandboxProvider;
use fieldvault_aws::session::SessionFactory;
use fieldvault_aws::settings::Settings;
use fieldvault_core::caller::Role;
use fieldvault_core::ids::{TenantId, UserId};
use fieldvault_core::payment::ProviderAccount;
use fieldvault_core::problem::SECURITY_HEADERS;
use serde_json::Value;

pub const PASSWORD: &str = "Test-password-1!";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the system tests through infra/local/test.sh, which starts the local stack")
    })
}

pub struct Stack {
    pub api: String,
    pub pool_id: String,
    pub client_id: String,
    pub issuer: String,
    pub http: reqwest::Client,
    pub sdk: SdkConfig,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
}

/// A response, with its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Every response, errors included, carries the security headers.
    pub fn assert_security_headers(&self) {
        for (name, value) in SECURITY_HEADERS {
            let got = self.headers.get(*name).and_then(|v| v.to_str().ok());
            assert_eq!(
                got,
                Some(*value),
                "header {name} on a {} response",
                self.status
            );
        }
        assert!(self.headers.get("server").is_none(), "no Server header");
    }

    /// An RFC 9457 problem with this status.
    pub fn assert_problem(&self, status: u16) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.content_type(), "application/problem+json");
        assert_eq!(self.body["status"], status);
        assert!(self.body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("urn:fieldvault:problem:")));
        assert!(self.body["title"].is_string());
        self.assert_security_headers();
    }
}

pub struct TestUser {
    pub role: Role,
    pub email: String,
    pub id: UserId,
    pub access_token: String,
    pub id_token: String,
}

pub struct TestTenant {
    pub id: TenantId,
    pub users: Vec<TestUser>,
    /// Its own account at the sandbox payment provider (opened at onboarding).
    pub payment_account: Option<ProviderAccount>,
}

impl TestTenant {
    pub fn user(&self, role: Role) -> &TestUser {
        self.users
            .iter()
            .find(|u| u.role == role)
            .expect("every role has a user")
    }
    pub fn token(&self, role: Role) -> &str {
        &self.user(role).access_token
    }
}

impl Stack {
    pub async fn connect() -> Stack {
        fieldvault_aws::install_tls_provider();
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Stack {
            api: env("FV_API_URL"),
            pool_id: env("FV_USER_POOL_ID"),
            client_id: env("FV_USER_POOL_CLIENT_ID"),
            issuer: env("FV_ISSUER"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            cognito: aws_sdk_cognitoidentityprovider::Client::new(&sdk),
            sdk,
        }
    }

    pub fn settings(&self) -> Settings {
        Settings::from_env().expect("settings from the test environment")
    }

    /// Tenant sessions exactly as the staff functions build them (policy guard included, acting
    /// as the staff functions' execution role).
    pub fn sessions(&self) -> SessionFactory {
        self.sessions_as(fieldvault_aws::session::execution_roles::STAFF)
    }

    /// Tenant sessions as the functions running as `execution_role` (a template logical id)
    /// build them: locally, each AssumeRole is decided from the template's trust policy and
    /// that role's policies.
    pub fn sessions_as(&self, execution_role: &str) -> SessionFactory {
        let settings = self.settings();
        let guard = fieldvault_aws::app::local_guard(&settings).expect("guard");
        assert!(
            guard.is_some(),
            "the test stack must run with the policy guard"
        );
        SessionFactory::new(self.sdk.clone(), settings, guard).with_execution_role(execution_role)
    }

    /// A new tenant with one user per role, each signed in, and its own account at the
    /// sandbox payment provider.
    pub async fn tenant(&self) -> TestTenant {
        self.tenant_with(true).await
    }

    /// A new tenant as `tenant` makes it, with or without a payment provider account.
    pub async fn tenant_with(&self, payments: bool) -> TestTenant {
        let id = TenantId::parse(&format!(
            "t-{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ))
        .expect("tenant id");
        let users: Vec<NewUser> = Role::ALL
            .iter()
            .map(|r| NewUser {
                email: format!("{r}@{id}.test"),
                name: format!("{r} of {id}"),
                role: *r,
                password: Some(PASSWORD.into()),
            })
            .collect();
        let sessions = self.sessions();
        let provider = self
            .settings()
            .payments
            .filter(|_| payments)
            .map(|p| SandboxProvider::new(p).expect("payment provider client"));
        let account = payment_account(provider.as_ref(), None, &id, "Test shop")
            .await
            .expect("a provider account");
        let profiles = onboard_tenant(
            &self.cognito,
            &self.pool_id,
            &sessions,
            &id,
            "Test shop",
            &users,
            account.clone(),
            "system-tests",
        )
        .await
        .expect("onboarding");
        let mut out = Vec::new();
        for p in profiles {
            let (access_token, id_token) =
                self.sign_in(&self.pool_id, &self.client_id, &p.email).await;
            out.push(TestUser {
                role: p.role,
                email: p.email,
                id: p.user_id,
                access_token,
                id_token,
            });
        }
        TestTenant {
            id,
            users: out,
            payment_account: account,
        }
    }

    /// (access token, id token) for a user of a pool.
    pub async fn sign_in(&self, pool: &str, client: &str, username: &str) -> (String, String) {
        let out = self
            .cognito
            .admin_initiate_auth()
            .user_pool_id(pool)
            .client_id(client)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", PASSWORD)
            .send()
            .await
            .expect("sign in");
        let r = out.authentication_result.expect("tokens");
        (
            r.access_token.expect("access token"),
            r.id_token.expect("id token"),
        )
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.api));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        self.send(req).await
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.expect("request reaches the gateway");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call("POST", path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call("PATCH", path, Some(token), Some(body)).await
    }

    /// The tenant's audit trail as its owner sees it (newest first, up to 100).
    pub async fn audit(&self, tenant: &TestTenant) -> Vec<Value> {
        let r = self
            .get("/audit?limit=100", tenant.token(Role::Owner))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["items"].as_array().cloned().unwrap_or_default()
    }
}

/// A customer body with a unique phone number.
pub fn new_customer(name: &str) -> Value {
    let n = ulid::Ulid::new().random() % 10_000_000;
    serde_json::json!({
        "name": name,
        "contact_points": [{"kind": "phone", "value": format!("+1555{n:07}"), "sms_consent": true}],
        "service_locations": [{"label": "Home", "address": {"line1": "1 Main St", "city": "Springfield", "region": "IL", "postal_code": "62701"}}]
    })
}

/// An API Gateway v2 event for calling a handler in-process, as the authorizer would pass it.
pub fn lambda_event(
    method: &str,
    path: &str,
    user: &TestUser,
    tenant: &TestTenant,
    body: &Value,
) -> lambda_http::Request {
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "user-agent": "system-tests"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "localhost", "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "system-tests"},
            "requestId": ulid::Ulid::new().to_string(), "routeKey": format!("{method} {path}"), "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000", "timeEpoch": 0,
            "authorizer": {"jwt": {"claims": {
                "sub": user.id.to_string(),
                "token_use": "access",
                "username": user.email,
                "cognito:groups": format!("[tenant:{} {}]", tenant.id, user.role),
            }, "scopes": null}}
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}

/// Read a response body produced in-process.
pub fn body_json(resp: &lambda_http::Response<lambda_http::Body>) -> Value {
    match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        lambda_http::Body::Binary(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

pub fn base32_decode(s: &str) -> Vec<u8> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.chars() {
        let v = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".find(c).expect("base32") as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

impl Stack {
    /// Enroll a TOTP authenticator and confirm it (a wrong code first must be refused);
    /// returns the secret and the time step the confirmation consumed.
    pub async fn enroll_totp(&self, user: &TestUser) -> (Vec<u8>, i64) {
        use fieldvault_core::mfa::{code_at, step_of};
        let e = self
            .call("POST", "/me/mfa/totp", Some(&user.access_token), None)
            .await;
        assert_eq!(e.status, 201, "{}", e.body);
        assert!(e.body["otpauth_uri"]
            .as_str()
            .is_some_and(|u| u.starts_with("otpauth://totp/")));
        let secret = base32_decode(e.body["secret_base32"].as_str().expect("secret"));
        let wrong = self
            .post(
                "/me/mfa/totp/confirm",
                &user.access_token,
                &serde_json::json!({"code": "000000"}),
            )
            .await;
        assert_eq!(
            wrong.status, 401,
            "a wrong confirmation code was accepted: {}",
            wrong.body
        );
        let step = step_of(time::OffsetDateTime::now_utc());
        let ok = self
            .post(
                "/me/mfa/totp/confirm",
                &user.access_token,
                &serde_json::json!({"code": code_at(&secret, step).expect("code")}),
            )
            .await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        (secret, step)
    }

    /// Enroll `user` and step up for `action_class` in their current sign-in.
    pub async fn step_up(&self, user: &TestUser, action_class: &str) {
        use fieldvault_core::mfa::code_at;
        let (secret, used) = self.enroll_totp(user).await;
        let stepped = self
            .post(
                "/me/mfa/step-up",
                &user.access_token,
                &serde_json::json!({"code": code_at(&secret, used + 1).expect("code"), "action_class": action_class}),
            )
            .await;
        assert_eq!(stepped.status, 200, "{}", stepped.body);
    }
}

/// One route for the role matrix: method, path, body, the roles allowed.
pub type RoleCase<'a> = (&'a str, String, Option<Value>, &'a [Role]);

/// Every case as every role: an allowed role gets a success, or a 409 when an earlier role's
/// call already moved the record on; every other role gets a 403 problem.
pub async fn assert_role_matrix(s: &Stack, t: &TestTenant, cases: &[RoleCase<'_>]) {
    for (method, path, body, allowed) in cases {
        for role in Role::ALL {
            let r = s
                .call(method, path, Some(t.token(role)), body.as_ref())
                .await;
            if allowed.contains(&role) {
                assert!(
                    r.status < 400 || r.status == 409,
                    "{method} {path} as {role}: {} {}",
                    r.status,
                    r.body
                );
                r.assert_security_headers();
            } else {
                r.assert_problem(403);
            }
        }
    }
}
