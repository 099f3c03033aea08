//! A minimal Lambda Runtime API on loopback, to run a function binary as Lambda does: the
//! benchmark's cold starts (no event: the first poll is held) and the system test in which a
//! binary answers one event.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
/// How long a poll with nothing to invoke is held (the caller ends the process meanwhile).
const HOLD: Duration = Duration::from_secs(30);

/// The one event handed to the function's first poll.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub function_arn: String,
    /// The event's JSON text.
    pub event: String,
}

#[derive(Default)]
struct State {
    invocation: Option<Invocation>,
    /// Where the function posts its answer to the invocation handed out.
    response_path: Option<String>,
    first_poll: Option<Instant>,
    polls: usize,
    response: Option<Bytes>,
    error: Option<String>,
}

pub struct RuntimeApi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn reply(status: hyper::StatusCode, body: Bytes) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(body));
    *r.status_mut() = status;
    r
}

async fn answer(
    state: Arc<Mutex<State>>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let at = Instant::now();
    let path = req.uri().path().to_owned();
    if path == NEXT {
        let invocation = {
            let mut s = lock(&state);
            s.first_poll.get_or_insert(at);
            s.polls += 1;
            let inv = s.invocation.take();
            if let Some(i) = &inv {
                s.response_path = Some(format!(
                    "/2018-06-01/runtime/invocation/{}/response",
                    i.request_id
                ));
            }
            inv
        };
        let Some(inv) = invocation else {
            tokio::time::sleep(HOLD).await;
            return reply(hyper::StatusCode::NO_CONTENT, Bytes::new());
        };
        let deadline_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 + 30_000;
        let mut r = reply(hyper::StatusCode::OK, Bytes::from(inv.event));
        for (name, value) in [
            ("lambda-runtime-aws-request-id", inv.request_id),
            ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
            ("lambda-runtime-invoked-function-arn", inv.function_arn),
        ] {
            if let Ok(v) = http::HeaderValue::from_str(&value) {
                r.headers_mut().insert(name, v);
            }
        }
        return r;
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut s = lock(&state);
    if s.response_path.as_deref() == Some(path.as_str()) && s.response.is_none() {
        s.response = Some(body);
    } else {
        s.error = Some(format!("{path}: {}", String::from_utf8_lossy(&body)));
    }
    reply(
        hyper::StatusCode::ACCEPTED,
        Bytes::from_static(br#"{"status":"OK"}"#),
    )
}

impl RuntimeApi {
    /// Listen on a free loopback port; `invocation`, if any, answers the first poll.
    pub async fn start(invocation: Option<Invocation>) -> std::io::Result<RuntimeApi> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            invocation,
            ..State::default()
        }));
        let served = state.clone();
        let server = tokio::spawn(crate::http::serve(listener, move |req, _| {
            answer(served.clone(), req)
        }));
        Ok(RuntimeApi {
            addr,
            state,
            server,
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` for the function.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// When the function first asked for an event.
    pub fn first_poll(&self) -> Option<Instant> {
        lock(&self.state).first_poll
    }

    pub fn polls(&self) -> usize {
        lock(&self.state).polls
    }

    /// What the function answered the invocation with.
    pub fn response(&self) -> Option<Bytes> {
        lock(&self.state).response.clone()
    }

    /// An error the function reported (init or invocation), or a post to anywhere else.
    pub fn error(&self) -> Option<String> {
        lock(&self.state).error.clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}
