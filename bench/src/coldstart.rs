//! Cold start of the function binaries against a minimal Lambda Runtime API on loopback.
//!
//! Each run spawns the binary with the environment Lambda would give it and
//! `AWS_LAMBDA_RUNTIME_API` pointing here; init = first `GET .../invocation/next` minus the
//! moment before spawn. Optionally the first `next` is answered with an API Gateway event, and
//! the first invocation lasts until the function posts its response. Then the process is
//! killed (by its own handle).
use std::convert::Infallible;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::Value;

use crate::stats::median_ms;
use crate::Res;

const RUN_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Default)]
struct RuntimeState {
    event: Option<String>,
    nexts: Mutex<u32>,
    first_next: Mutex<Option<Instant>>,
    response: Mutex<Option<(Instant, Bytes)>>,
    error: Mutex<Option<String>>,
}

async fn runtime_api(
    state: Arc<RuntimeState>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let at = Instant::now();
    let path = req.uri().path().to_owned();
    let reply = |status: u16, body: Bytes| {
        let mut r = hyper::Response::new(Full::new(body));
        *r.status_mut() =
            hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
        r
    };
    if path == "/2018-06-01/runtime/invocation/next" {
        let n = {
            let mut n = state.nexts.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            *n
        };
        if n == 1 {
            *state.first_next.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
            if let Some(event) = &state.event {
                let deadline = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 + 10_000;
                let mut r = reply(200, Bytes::from(event.clone()));
                let h = r.headers_mut();
                h.insert(
                    "lambda-runtime-aws-request-id",
                    "bench-1"
                        .parse()
                        .unwrap_or_else(|_| http::HeaderValue::from_static("x")),
                );
                h.insert(
                    "lambda-runtime-deadline-ms",
                    deadline
                        .to_string()
                        .parse()
                        .unwrap_or_else(|_| http::HeaderValue::from_static("0")),
                );
                h.insert(
                    "lambda-runtime-invoked-function-arn",
                    http::HeaderValue::from_static(
                        "arn:aws:lambda:us-east-1:123456789012:function:bench",
                    ),
                );
                h.insert(
                    "lambda-runtime-trace-id",
                    http::HeaderValue::from_static("Root=1-00000000-000000000000000000000000"),
                );
                h.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                return r;
            }
        }
        // Nothing more to invoke: hold the poll (the process is killed meanwhile), bounded.
        tokio::time::sleep(RUN_TIMEOUT).await;
        return reply(204, Bytes::new());
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if path.ends_with("/response") {
        *state.response.lock().unwrap_or_else(|e| e.into_inner()) = Some((at, body));
    } else if path.ends_with("/error") {
        *state.error.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(format!("{path}: {}", String::from_utf8_lossy(&body)));
    }
    reply(202, Bytes::from_static(b"{\"status\":\"OK\"}"))
}

/// One spawn of a function binary.
pub struct Run {
    pub init: Duration,
    /// From the first `next` to the posted response, when an event was given.
    pub invoke: Option<Duration>,
    /// The status code of the response the function returned for the event.
    pub status: Option<u16>,
}

pub async fn run_once(
    binary: &Path,
    env: &[(String, String)],
    event: Option<String>,
    log: &Path,
) -> Res<Run> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let invoking = event.is_some();
    let state = Arc::new(RuntimeState {
        event,
        ..Default::default()
    });
    let server_state = state.clone();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let state = server_state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(runtime_api(state, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut cmd = tokio::process::Command::new(binary);
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .kill_on_drop(true);
    let spawned_at = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", binary.display()))?;

    let deadline = spawned_at + RUN_TIMEOUT;
    let result = loop {
        let next = *state.first_next.lock().unwrap_or_else(|e| e.into_inner());
        let response = state
            .response
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let error = state
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(e) = error {
            break Err(format!("{} reported an error: {e}", binary.display()).into());
        }
        match (next, response) {
            (Some(n), _) if !invoking => {
                break Ok(Run {
                    init: n - spawned_at,
                    invoke: None,
                    status: None,
                })
            }
            (Some(n), Some((r, body))) => {
                let status = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v["statusCode"].as_u64())
                    .map(|s| s as u16);
                break Ok(Run {
                    init: n - spawned_at,
                    invoke: Some(r - n),
                    status,
                });
            }
            _ => {}
        }
        if let Some(status) = child.try_wait()? {
            break Err(format!(
                "{} exited ({status}) before it polled for an event; see {}",
                binary.display(),
                log.display()
            )
            .into());
        }
        if Instant::now() > deadline {
            break Err(format!(
                "{} did not reach the runtime API within {RUN_TIMEOUT:?}; see {}",
                binary.display(),
                log.display()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    };
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    server.abort();
    result
}

#[derive(Debug, Serialize)]
pub struct ColdStart {
    pub binary: String,
    /// Init with the environment of AWS (no DynamoDB endpoint override, so no local policy
    /// guard is built); nothing is invoked.
    pub init_aws_ms: Vec<f64>,
    pub init_aws_median_ms: Option<f64>,
    /// Init in local mode (the policy guard parses the template); with an event when given.
    pub init_local_ms: Vec<f64>,
    pub init_local_median_ms: Option<f64>,
    pub first_invoke_ms: Vec<f64>,
    pub first_invoke_median_ms: Option<f64>,
    pub first_invoke_status: Vec<u16>,
    pub error: Option<String>,
}

/// `runs` spawns in each mode; `event` (if any) is answered on the local-mode runs.
pub async fn measure(
    binary: &Path,
    env_local: &[(String, String)],
    env_aws: &[(String, String)],
    event: Option<&dyn Fn() -> String>,
    runs: usize,
    log: &Path,
) -> ColdStart {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = ColdStart {
        binary: name,
        init_aws_ms: Vec::new(),
        init_aws_median_ms: None,
        init_local_ms: Vec::new(),
        init_local_median_ms: None,
        first_invoke_ms: Vec::new(),
        first_invoke_median_ms: None,
        first_invoke_status: Vec::new(),
        error: None,
    };
    let (mut aws, mut local, mut invoke) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        // Alternate the modes so that page-cache and CPU effects hit both alike.
        match run_once(binary, env_aws, None, log).await {
            Ok(r) => aws.push(r.init),
            Err(e) => {
                out.error = Some(e.to_string());
                break;
            }
        }
        match run_once(binary, env_local, event.map(|f| f()), log).await {
            Ok(r) => {
                local.push(r.init);
                if let Some(d) = r.invoke {
                    invoke.push(d);
                }
                if let Some(s) = r.status {
                    out.first_invoke_status.push(s);
                }
            }
            Err(e) => {
                out.error = Some(e.to_string());
                break;
            }
        }
    }
    let to_ms = |v: &[Duration]| v.iter().map(|d| d.as_secs_f64() * 1e3).collect::<Vec<_>>();
    out.init_aws_ms = to_ms(&aws);
    out.init_aws_median_ms = median_ms(&aws);
    out.init_local_ms = to_ms(&local);
    out.init_local_median_ms = median_ms(&local);
    out.first_invoke_ms = to_ms(&invoke);
    out.first_invoke_median_ms = median_ms(&invoke);
    out
}
