//! The local API gateway: serves every route `template.yaml` declares, authorizes with the
//! Cognito JWT verifier, builds a real API Gateway HTTP API (v2) event with string claims, and
//! calls the same handler the function's Lambda binary runs.
use std::net::SocketAddr;
use std::sync::Arc;

use fieldvault_aws::app::with_headers;
use fieldvault_aws::App;
use fieldvault_core::problem::{ApiError, PROBLEM_CONTENT_TYPE};
use fieldvault_core::template::Template;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::net::TcpListener;

use crate::jwt::{JwtVerifier, Verified};
use crate::registry::{handler_for, Handler};

/// API Gateway's own payload limit.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

struct Route {
    method: String,
    path: String,
    segments: Vec<String>,
    authenticated: bool,
    handler: Handler,
    /// The function's execution role (template logical id): its handler runs as that role,
    /// so the tenant sessions it asks for are decided for it (`session::acting_as`).
    execution_role: String,
}

/// Why a request has no route: 404, or 405 with the methods its path serves.
type Unrouted<'a> = (ApiError, Vec<&'a str>);

pub struct Gateway {
    app: &'static App,
    routes: Vec<Route>,
    verifier: JwtVerifier,
}

impl Gateway {
    /// One route per HttpApi event in the template; a function without a handler is an error.
    pub fn from_template(
        app: &'static App,
        template: &Template,
        verifier: JwtVerifier,
    ) -> Result<Gateway, String> {
        let mut routes = Vec::new();
        for (function, method, path, authenticated) in template.http_routes() {
            let handler = handler_for(&function).ok_or_else(|| {
                format!("{function} in template.yaml has no handler in the local gateway")
            })?;
            let execution_role = template
                .function_role(&function)
                .map_err(|e| e.to_string())?;
            routes.push(Route {
                execution_role,
                segments: path.split('/').map(str::to_owned).collect(),
                method,
                path,
                authenticated,
                handler,
            });
        }
        Ok(Gateway {
            app,
            routes,
            verifier,
        })
    }

    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// The route for a method and path, with its parameters; else 404, or 405 with the
    /// methods the path does serve (for the `Allow` header).
    fn find(&self, method: &str, path: &str) -> Result<(&Route, Map<String, Value>), Unrouted<'_>> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut allowed = Vec::new();
        for r in &self.routes {
            if r.segments.len() != segments.len() {
                continue;
            }
            let mut params = Map::new();
            let ok = r.segments.iter().zip(&segments).all(|(p, s)| {
                match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) => {
                        params.insert(name.to_owned(), Value::String(percent_decode(s)));
                        !s.is_empty()
                    }
                    None => p == s,
                }
            });
            if ok {
                if r.method == method {
                    return Ok((r, params));
                }
                allowed.push(r.method.as_str());
            }
        }
        Err(if allowed.is_empty() {
            (ApiError::NotFound, allowed)
        } else {
            allowed.sort_unstable();
            allowed.dedup();
            (ApiError::MethodNotAllowed, allowed)
        })
    }

    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        crate::http::serve(listener, move |req, peer| {
            let gateway = self.clone();
            async move { gateway.handle(req, peer).await }
        })
        .await
    }

    async fn handle(
        &self,
        req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let problem = |e: ApiError| {
            let p = e.problem(Some(&path));
            to_hyper(with_headers(
                p.status,
                PROBLEM_CONTENT_TYPE,
                serde_json::to_string(&p).unwrap_or_default(),
            ))
        };
        if path == LOCAL_SESSIONS_PATH && parts.method == http::Method::GET {
            return self.session_counters(parts.uri.query());
        }
        let (route, params) = match self.find(parts.method.as_str(), &path) {
            Ok(found) => found,
            Err((e, allowed)) => {
                let mut response = problem(e);
                if let Ok(allow) = http::HeaderValue::from_str(&allowed.join(", ")) {
                    if !allowed.is_empty() {
                        response.headers_mut().insert(http::header::ALLOW, allow);
                    }
                }
                return response;
            }
        };
        let claims = if route.authenticated {
            let auth = parts
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            match self.verifier.verify(auth).await {
                Ok(verified) => Some(verified),
                Err(e) => {
                    tracing::info!(error = %e, "token refused by the authorizer");
                    return problem(ApiError::Unauthenticated(
                        "a valid access token is required".into(),
                    ));
                }
            }
        } else {
            None
        };
        // A request without a body (most GETs) has nothing to collect.
        let bytes = if hyper::body::Body::is_end_stream(&body) {
            Bytes::new()
        } else {
            match Limited::new(body, MAX_PAYLOAD).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return problem(ApiError::PayloadTooLarge),
            }
        };
        let event = event_json(
            &parts,
            &route.method,
            &route.path,
            params,
            claims.as_deref().map(Verified::forwarded),
            &bytes,
            peer,
        );
        let request = match event.map(|text| lambda_http::request::from_str(&text)) {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "could not parse the Lambda event");
                return problem(ApiError::Internal);
            }
            Err(e) => {
                tracing::error!(error = %e, "could not build the Lambda event");
                return problem(ApiError::Internal);
            }
        };
        // As the function's Lambda entry point serves it (`lambda::serve`): body checks first,
        // then the handler within the request deadline, acting as the function's execution role.
        let app = self.app;
        let handler = route.handler;
        let served = fieldvault_aws::bounds::bounded(request, |r| handler(app, r));
        to_hyper(fieldvault_aws::session::acting_as(&route.execution_role, served).await)
    }

    /// The local stack's session counters (not a route of the API, and not in AWS): how many
    /// AssumeRole calls were made for each session role of `?tenant=`, and how many sessions
    /// the process holds. Tests read them to show what a request costs.
    fn session_counters(&self, query: Option<&str>) -> hyper::Response<Full<Bytes>> {
        let sessions = &self.app.sessions;
        let tenant = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|kv| kv.strip_prefix("tenant="))
            .and_then(|t| fieldvault_core::ids::TenantId::parse(t).ok());
        let mut by_role = Map::new();
        if let Some(t) = &tenant {
            for role in fieldvault_core::caller::Role::ALL.iter().copied().chain([
                fieldvault_core::caller::Role::Customer,
                fieldvault_core::caller::Role::PaymentProvider,
                fieldvault_core::caller::Role::TelephonyProvider,
            ]) {
                by_role.insert(role.to_string(), sessions.sts_calls_for(t, role).into());
            }
        }
        let body = serde_json::json!({
            "assume_role_calls": sessions.sts_calls(),
            "tenant_assume_role_calls": by_role,
            "cached_sessions": sessions.cached_sessions(),
            "session_cache_bound": fieldvault_aws::session::SESSION_CACHE_BOUND,
        });
        to_hyper(with_headers(200, "application/json", body.to_string()))
    }
}

/// Where the local gateway answers its session counters.
pub const LOCAL_SESSIONS_PATH: &str = "/_local/sessions";

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The API Gateway HTTP API payload format 2.0 event, serialized straight to its JSON text
/// (the function parses that text, as in AWS).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    version: &'static str,
    route_key: &'a str,
    raw_path: &'a str,
    raw_query_string: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cookies: Vec<String>,
    headers: Map<String, Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    query_string_parameters: Map<String, Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    path_parameters: Map<String, Value>,
    request_context: EventContext<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    is_base64_encoded: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventContext<'a> {
    account_id: &'static str,
    api_id: &'static str,
    domain_name: &'a str,
    domain_prefix: &'static str,
    http: EventHttp<'a>,
    request_id: String,
    route_key: &'a str,
    stage: &'static str,
    time: String,
    time_epoch: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorizer: Option<EventAuthorizer<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventHttp<'a> {
    method: &'a str,
    path: &'a str,
    protocol: &'static str,
    source_ip: String,
    user_agent: &'a str,
}

#[derive(Serialize)]
struct EventAuthorizer<'a> {
    jwt: EventJwt<'a>,
}

#[derive(Serialize)]
struct EventJwt<'a> {
    claims: &'a RawValue,
    /// Always null: routes require no scopes.
    scopes: Option<Vec<String>>,
}

/// Add `value` under `key`, joined to an earlier value with a comma, as API Gateway passes
/// repeated headers and query parameters.
fn join_value(map: &mut Map<String, Value>, key: String, value: String) {
    let entry = map
        .entry(key)
        .or_insert_with(|| Value::String(String::new()));
    *entry = match entry.as_str() {
        Some("") | None => Value::String(value),
        Some(prev) => Value::String(format!("{prev},{value}")),
    };
}

fn event_json(
    parts: &http::request::Parts,
    method: &str,
    route_path: &str,
    params: Map<String, Value>,
    claims: Option<&RawValue>,
    body: &[u8],
    peer: SocketAddr,
) -> Result<String, serde_json::Error> {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == http::header::COOKIE {
            cookies.extend(v.split(';').map(|c| c.trim().to_owned()));
            continue;
        }
        join_value(&mut headers, name.as_str().to_owned(), v);
    }
    let raw_query = parts.uri.query().unwrap_or_default();
    let mut query = Map::new();
    if let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(raw_query) {
        for (k, v) in pairs {
            join_value(&mut query, k, v);
        }
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok("") => (None, false),
        Ok(text) => (Some(text.to_owned()), false),
        Err(_) => {
            use base64::Engine;
            (
                Some(base64::engine::general_purpose::STANDARD.encode(body)),
                true,
            )
        }
    };
    let now = time::OffsetDateTime::now_utc();
    let route_key = format!("{method} {route_path}");
    let header =
        |name: http::header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
    serde_json::to_string(&Event {
        version: "2.0",
        route_key: &route_key,
        raw_path: parts.uri.path(),
        raw_query_string: raw_query,
        cookies,
        headers,
        query_string_parameters: query,
        path_parameters: params,
        request_context: EventContext {
            account_id: fieldvault_aws::guard::LOCAL_ACCOUNT,
            api_id: "local",
            domain_name: header(http::header::HOST).unwrap_or("127.0.0.1"),
            domain_prefix: "local",
            http: EventHttp {
                method,
                path: parts.uri.path(),
                protocol: "HTTP/1.1",
                source_ip: peer.ip().to_string(),
                user_agent: header(http::header::USER_AGENT).unwrap_or_default(),
            },
            request_id: ulid::Ulid::new().to_string(),
            route_key: &route_key,
            stage: "$default",
            time: now
                .format(&time::format_description::well_known::Rfc2822)
                .unwrap_or_default(),
            time_epoch: (now.unix_timestamp_nanos() / 1_000_000) as i64,
            authorizer: claims.map(|claims| EventAuthorizer {
                jwt: EventJwt {
                    claims,
                    scopes: None,
                },
            }),
        },
        body,
        is_base64_encoded: encoded,
    })
}

fn to_hyper(resp: lambda_http::Response<lambda_http::Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(t) => Bytes::from(t),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}
