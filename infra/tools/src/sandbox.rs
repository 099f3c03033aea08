//! The sandbox payment provider: a local stand-in that behaves like a hosted provider.
//!
//! - `POST /v1/accounts` (API key): a connected account for one shop (its merchant of record).
//!   Every call below that is about payments names one in the `Sandbox-Account` header and
//!   sees only that account's checkouts and payments: another account's payment is "no such
//!   payment".
//! - `POST /v1/checkout_sessions` (API key, account): a hosted checkout page for an amount.
//! - `GET /checkout/{id}`: the page where the customer enters a card (on the provider's side:
//!   Fieldvault never sees card data). Test cards: 4242 4242 4242 4242 (visa) and
//!   5555 5555 5555 4444 (mastercard) succeed; 4000 0000 0000 0002 is declined.
//! - Paying captures a payment on the checkout's account, sends a signed `payment.succeeded`
//!   webhook naming the account (retried in the background if the endpoint does not answer
//!   2xx), and redirects to the success URL.
//! - `GET /v1/payments/{id}`, `POST /v1/refunds` (API key, account; `Idempotency-Key` dedupes
//!   per account; never more than the payment's unrefunded amount).
//! - `GET /v1/events` (API key): every delivery as signed and sent, for replay tests.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldvault_aws::payments::ACCOUNT_HEADER;
use fieldvault_core::webhook;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;

#[derive(Clone)]
struct Session {
    account: String,
    amount_minor: i64,
    currency: String,
    description: String,
    metadata: BTreeMap<String, String>,
    success_url: String,
    cancel_url: String,
    payment: Option<String>,
}

#[derive(Clone)]
struct Payment {
    account: String,
    amount_minor: i64,
    currency: String,
    brand: String,
    last4: String,
    refunded_minor: i64,
    metadata: BTreeMap<String, String>,
}

impl Payment {
    fn to_json(&self, id: &str) -> Value {
        json!({
            "id": id, "account": self.account, "amount_minor": self.amount_minor,
            "currency": self.currency, "status": "succeeded", "method": "card",
            "brand": self.brand, "last4": self.last4,
            "amount_refunded_minor": self.refunded_minor, "metadata": self.metadata,
        })
    }
}

#[derive(Default)]
struct State {
    /// Connected accounts: id -> (name, metadata).
    accounts: HashMap<String, (String, BTreeMap<String, String>)>,
    sessions: HashMap<String, Session>,
    payments: HashMap<String, Payment>,
    refunds: HashMap<String, Value>,
    deliveries: Vec<Value>,
}

pub struct Sandbox {
    base_url: String,
    api_key: String,
    secret: Vec<u8>,
    webhook_url: String,
    http: reqwest::Client,
    state: Mutex<State>,
}

type Reply = hyper::Response<Full<Bytes>>;

fn reply(status: u16, content_type: &str, body: String) -> Reply {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_str(content_type)
            .unwrap_or(http::HeaderValue::from_static("text/plain")),
    );
    h.insert(
        "content-security-policy",
        http::HeaderValue::from_static(
            // No form-action: the checkout form's answer redirects to the shop's return URL, which
            // browsers check against form-action too.
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        "referrer-policy",
        http::HeaderValue::from_static("no-referrer"),
    );
    h.insert("x-robots-tag", http::HeaderValue::from_static("noindex"));
    h.insert("cache-control", http::HeaderValue::from_static("no-store"));
    r
}

fn json_reply(status: u16, body: &Value) -> Reply {
    reply(status, "application/json", body.to_string())
}

fn error(status: u16, message: &str) -> Reply {
    json_reply(status, &json!({ "error": message }))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width,initial-scale=1\"><meta name=robots content=noindex><title>{t}</title><style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}}label{{display:block;margin:.6rem 0}}input{{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}}button{{padding:.7rem 1.2rem;font-size:1rem;margin-top:1rem}}</style></head><body><p><strong>Sandbox payments</strong> &middot; test mode</p><h1>{t}</h1>{body}</body></html>",
        t = html_escape(title)
    )
}

fn money(amount: i64, currency: &str) -> String {
    format!(
        "{}.{:02} {}",
        amount / 100,
        amount % 100,
        html_escape(currency)
    )
}

#[derive(Deserialize)]
struct NewSession {
    amount_minor: i64,
    currency: String,
    description: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    success_url: String,
    cancel_url: String,
}

#[derive(Deserialize)]
struct NewAccount {
    name: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct NewRefund {
    payment: String,
    amount_minor: i64,
}

#[derive(Deserialize)]
struct CardForm {
    card_number: String,
    #[serde(default)]
    name: String,
}

fn id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

impl Sandbox {
    pub fn new(base_url: String, api_key: String, secret: Vec<u8>, webhook_url: String) -> Self {
        Sandbox {
            base_url,
            api_key,
            secret,
            webhook_url,
            http: {
                fieldvault_aws::install_tls_provider();
                reqwest::Client::new()
            },
            state: Mutex::new(State::default()),
        }
    }

    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        crate::http::serve(listener, move |req, _| self.clone().handle(req)).await
    }

    fn authorized(&self, req: &hyper::Request<Incoming>) -> bool {
        req.headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Bearer {}", self.api_key))
    }

    async fn handle(self: Arc<Self>, req: hyper::Request<Incoming>) -> Reply {
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let api = segments.first() == Some(&"v1");
        if api && !self.authorized(&req) {
            return error(401, "invalid API key");
        }
        let idempotency = req
            .headers()
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let account = req
            .headers()
            .get(ACCOUNT_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return error(413, "body too large"),
        };
        let on_account = |call: &dyn Fn(&str) -> Reply| match self.account(account.as_deref()) {
            Ok(a) => call(&a),
            Err((status, message)) => error(status, message),
        };
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "accounts"]) => self.create_account(&body),
            ("POST", ["v1", "checkout_sessions"]) => on_account(&|a| self.create_session(a, &body)),
            ("GET", ["v1", "payments", pid]) => on_account(&|a| self.payment(a, pid)),
            ("POST", ["v1", "refunds"]) => {
                on_account(&|a| self.refund(a, &body, idempotency.as_deref()))
            }
            ("GET", ["v1", "events"]) => self.events(),
            ("GET", ["checkout", sid]) => self.checkout_page(sid),
            ("POST", ["checkout", sid]) => self.clone().pay(sid, &body).await,
            ("GET", ["done"]) => reply(
                200,
                "text/html; charset=utf-8",
                page(
                    "Payment received",
                    "<p>Thank you. You can close this page.</p>",
                ),
            ),
            _ => error(404, "not found"),
        }
    }

    /// The connected account a call names, which must exist: calls about payments are always
    /// made on one account. Refused: the status and message to answer.
    fn account(&self, named: Option<&str>) -> Result<String, (u16, &'static str)> {
        let Some(named) = named else {
            return Err((
                400,
                "a Sandbox-Account header is required: payments live on connected accounts",
            ));
        };
        let known = self
            .state
            .lock()
            .map(|s| s.accounts.contains_key(named))
            .unwrap_or(false);
        if known {
            Ok(named.to_owned())
        } else {
            Err((404, "no such account"))
        }
    }

    fn create_account(&self, body: &[u8]) -> Reply {
        let Ok(a) = serde_json::from_slice::<NewAccount>(body) else {
            return error(400, "invalid account");
        };
        let aid = id("acct");
        if let Ok(mut state) = self.state.lock() {
            state.accounts.insert(aid.clone(), (a.name, a.metadata));
        }
        json_reply(200, &json!({ "id": aid }))
    }

    fn create_session(&self, account: &str, body: &[u8]) -> Reply {
        let Ok(s) = serde_json::from_slice::<NewSession>(body) else {
            return error(400, "invalid checkout session");
        };
        if s.amount_minor <= 0 {
            return error(400, "amount_minor must be positive");
        }
        let sid = id("cs");
        let url = format!("{}/checkout/{sid}", self.base_url);
        let session = Session {
            account: account.to_owned(),
            amount_minor: s.amount_minor,
            currency: s.currency,
            description: s.description,
            metadata: s.metadata,
            success_url: s.success_url,
            cancel_url: s.cancel_url,
            payment: None,
        };
        if let Ok(mut state) = self.state.lock() {
            state.sessions.insert(sid.clone(), session);
        }
        json_reply(200, &json!({ "id": sid, "url": url }))
    }

    fn payment(&self, account: &str, pid: &str) -> Reply {
        let found = self
            .state
            .lock()
            .ok()
            .and_then(|s| s.payments.get(pid).cloned())
            .filter(|p| p.account == account);
        match found {
            Some(p) => json_reply(200, &p.to_json(pid)),
            None => error(404, "no such payment"),
        }
    }

    fn refund(&self, account: &str, body: &[u8], idempotency: Option<&str>) -> Reply {
        let Ok(r) = serde_json::from_slice::<NewRefund>(body) else {
            return error(400, "invalid refund");
        };
        let Ok(mut state) = self.state.lock() else {
            return error(500, "state");
        };
        // Keys are the account's own: another account's key never replays here.
        let idempotency = idempotency.map(|k| format!("{account}\n{k}"));
        if let Some(done) = idempotency.as_ref().and_then(|k| state.refunds.get(k)) {
            return json_reply(200, done);
        }
        let Some(p) = state
            .payments
            .get_mut(&r.payment)
            .filter(|p| p.account == account)
        else {
            return error(404, "no such payment");
        };
        if r.amount_minor <= 0 || r.amount_minor > p.amount_minor - p.refunded_minor {
            return error(400, "the refund exceeds what is left of the payment");
        }
        p.refunded_minor += r.amount_minor;
        let refund =
            json!({ "id": id("re"), "status": "succeeded", "amount_minor": r.amount_minor });
        if let Some(k) = idempotency {
            state.refunds.insert(k, refund.clone());
        }
        json_reply(200, &refund)
    }

    fn events(&self) -> Reply {
        let deliveries = self
            .state
            .lock()
            .map(|s| s.deliveries.clone())
            .unwrap_or_default();
        json_reply(200, &json!({ "data": deliveries }))
    }

    fn checkout_page(&self, sid: &str) -> Reply {
        let session = self
            .state
            .lock()
            .ok()
            .and_then(|s| s.sessions.get(sid).cloned());
        let Some(s) = session else {
            return reply(
                404,
                "text/html; charset=utf-8",
                page("Not found", "<p>This checkout does not exist.</p>"),
            );
        };
        if s.payment.is_some() {
            return reply(
                200,
                "text/html; charset=utf-8",
                page("Already paid", "<p>This checkout is complete.</p>"),
            );
        }
        let body = format!(
            "<p>{desc}</p><p><strong>{amount}</strong></p><form method=post action=\"/checkout/{sid}\"><label>Name on card<input name=name autocomplete=cc-name></label><label>Card number<input name=card_number inputmode=numeric autocomplete=cc-number required></label><label>Expiry<input name=expiry placeholder=MM/YY autocomplete=cc-exp></label><label>CVC<input name=cvc inputmode=numeric autocomplete=cc-csc></label><button type=submit id=pay>Pay {amount}</button></form><p><a href=\"{cancel}\">Cancel</a></p>",
            desc = html_escape(&s.description),
            amount = money(s.amount_minor, &s.currency),
            sid = html_escape(sid),
            cancel = html_escape(&s.cancel_url),
        );
        reply(200, "text/html; charset=utf-8", page("Pay", &body))
    }

    async fn pay(self: Arc<Self>, sid: &str, body: &[u8]) -> Reply {
        let Ok(form) = serde_urlencoded::from_bytes::<CardForm>(body) else {
            return error(400, "invalid form");
        };
        let _ = form.name;
        let digits: String = form
            .card_number
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let brand = match digits.as_str() {
            "4242424242424242" => "visa",
            "5555555555554444" => "mastercard",
            "4000000000000002" => {
                return reply(
                    402,
                    "text/html; charset=utf-8",
                    page("Declined", "<p>The card was declined.</p>"),
                )
            }
            _ => {
                return reply(
                    400,
                    "text/html; charset=utf-8",
                    page("Not a test card", "<p>Use a sandbox test card.</p>"),
                )
            }
        };
        let pid = id("pay");
        let (session, payment) = {
            let Ok(mut state) = self.state.lock() else {
                return error(500, "state");
            };
            let Some(session) = state.sessions.get_mut(sid) else {
                return error(404, "no such checkout");
            };
            if session.payment.is_some() {
                return error(409, "already paid");
            }
            session.payment = Some(pid.clone());
            let session = session.clone();
            let payment = Payment {
                account: session.account.clone(),
                amount_minor: session.amount_minor,
                currency: session.currency.clone(),
                brand: brand.into(),
                last4: digits[digits.len() - 4..].to_owned(),
                refunded_minor: 0,
                metadata: session.metadata.clone(),
            };
            state.payments.insert(pid.clone(), payment.clone());
            (session, payment)
        };
        let event = json!({
            "id": id("evt"),
            "type": "payment.succeeded",
            "account": session.account,
            "created": time::OffsetDateTime::now_utc().unix_timestamp(),
            "data": { "payment": payment.to_json(&pid), "metadata": session.metadata },
        });
        // Delivered before the customer is sent back, so the receipt they land on is current;
        // retried in the background if the endpoint failed.
        if !self.deliver(&event).await {
            let sandbox = self.clone();
            tokio::spawn(async move {
                for attempt in 1..=5u64 {
                    tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                    if sandbox.deliver(&event).await {
                        break;
                    }
                }
            });
        }
        let mut r = reply(303, "text/plain", String::new());
        if let Ok(location) = http::HeaderValue::from_str(&session.success_url) {
            r.headers_mut().insert(http::header::LOCATION, location);
        }
        r
    }

    /// Sign and send one event (each attempt signed afresh, as providers do).
    async fn deliver(&self, event: &Value) -> bool {
        let body = event.to_string();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = webhook::sign(&self.secret, now, body.as_bytes());
        let status = self
            .http
            .post(&self.webhook_url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(webhook::SIGNATURE_HEADER, &signature)
            .body(body.clone())
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if let Ok(mut state) = self.state.lock() {
            state.deliveries.push(json!({
                "event_id": event["id"], "body": body, "signature": signature, "status": status,
            }));
        }
        (200..300).contains(&status)
    }
}
