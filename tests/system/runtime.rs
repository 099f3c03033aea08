//! A function binary as Lambda runs it: its thin `main` (one thread, tracing, clients once)
//! polls a Lambda Runtime API for an API Gateway event, answers it, and polls again. The
//! runtime API here is a minimal one on loopback; `GET /openapi.json` needs no AWS service.
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

const REQUEST_ID: &str = "9f1c2b7e-0d3a-4c55-8e21-6a7b8c9d0e1f";

#[derive(Default)]
struct Runtime {
    polls: usize,
    response: Option<Value>,
    error: Option<String>,
}

fn event() -> Value {
    json!({
        "version": "2.0",
        "routeKey": "GET /openapi.json",
        "rawPath": "/openapi.json",
        "rawQueryString": "",
        "headers": {"accept": "application/json", "host": "api.example.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": "GET", "path": "/openapi.json", "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.7", "userAgent": "runtime-test"},
            "requestId": "req-1", "routeKey": "GET /openapi.json", "stage": "$default",
            "time": "01/Dec/2026:12:00:00 +0000", "timeEpoch": 1_796_126_400_000_i64
        },
        "isBase64Encoded": false
    })
}

async fn runtime_api(
    state: Arc<Mutex<Runtime>>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let reply = |status: u16, body: Vec<u8>, request_id: bool| {
        let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
        if request_id {
            let h = r.headers_mut();
            h.insert(
                "lambda-runtime-aws-request-id",
                REQUEST_ID.parse().expect("id"),
            );
            h.insert(
                "lambda-runtime-deadline-ms",
                (time::OffsetDateTime::now_utc().unix_timestamp() * 1000 + 30_000)
                    .to_string()
                    .parse()
                    .expect("deadline"),
            );
            h.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:fv-get-openapi"
                    .parse()
                    .expect("arn"),
            );
        }
        r
    };
    if path == "/2018-06-01/runtime/invocation/next" {
        let first = {
            let mut s = state.lock().expect("state");
            s.polls += 1;
            s.polls == 1
        };
        if first {
            return reply(200, event().to_string().into_bytes(), true);
        }
        // The function is idle again: hold its next poll (the test ends meanwhile).
        tokio::time::sleep(Duration::from_secs(30)).await;
        return reply(204, Vec::new(), false);
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut s = state.lock().expect("state");
    if path == format!("/2018-06-01/runtime/invocation/{REQUEST_ID}/response") {
        s.response = serde_json::from_slice(&body).ok();
    } else {
        s.error = Some(format!("{path}: {}", String::from_utf8_lossy(&body)));
    }
    reply(202, br#"{"status":"OK"}"#.to_vec(), false)
}

/// The function binaries sit next to this test's own (`target/<profile>/`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    dir.join(name)
}

#[tokio::test]
async fn a_function_binary_answers_an_event_from_the_runtime_api_and_polls_again() {
    let path = binary("fv-get-openapi");
    assert!(
        path.exists(),
        "{} is built by `cargo build --workspace`",
        path.display()
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = Arc::new(Mutex::new(Runtime::default()));
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
    // Lambda's environment, as a deployed function has it (no local endpoints).
    let mut child = tokio::process::Command::new(&path)
        .env_clear()
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", addr.to_string().as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", "fv-get-openapi"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/fv-get-openapi"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("FV_DATA_TABLE", "fieldvault-data"),
            ("FV_AUDIT_TABLE", "fieldvault-audit"),
            (
                "FV_TENANT_ROLE_ARN",
                "arn:aws:iam::123456789012:role/tenant",
            ),
            ("FV_CURSOR_SECRET", "a-cursor-secret-of-at-least-32-bytes!"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the function");
    let deadline = Instant::now() + Duration::from_secs(20);
    let (response, polls, error) = loop {
        let (response, polls, error) = {
            let s = state.lock().expect("state");
            (s.response.clone(), s.polls, s.error.clone())
        };
        if (response.is_some() && polls >= 2) || error.is_some() || Instant::now() > deadline {
            break (response, polls, error);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the function exited ({status}) before answering");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = child.start_kill();
    server.abort();
    assert_eq!(error, None, "the function reported an error");
    let response = response.expect("the function posted a response");
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(
        response["headers"]["content-type"], "application/json",
        "{response}"
    );
    for (name, value) in fieldvault_core::problem::SECURITY_HEADERS {
        assert_eq!(response["headers"][*name], *value, "{name}");
    }
    let body: Value =
        serde_json::from_str(response["body"].as_str().expect("a text body")).expect("JSON");
    assert!(body["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));
    assert!(body["paths"]["/openapi.json"].is_object());
    assert!(polls >= 2, "the function polled for its next event");
}
