//! A function binary as Lambda runs it: its thin `main` (one thread, tracing, clients once)
//! polls a Lambda Runtime API for an API Gateway event, answers it, and polls again. The
//! runtime API is the minimal one on loopback the benchmark's cold starts use;
//! `GET /openapi.json` needs no AWS service.
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fieldvault_tools::runtime_api::{Invocation, RuntimeApi};
use serde_json::{json, Value};

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
    let runtime = RuntimeApi::start(Some(Invocation {
        request_id: "9f1c2b7e-0d3a-4c55-8e21-6a7b8c9d0e1f".into(),
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:fv-get-openapi".into(),
        event: event().to_string(),
    }))
    .await
    .expect("runtime API");
    // Lambda's environment, as a deployed function has it (no local endpoints).
    let mut child = tokio::process::Command::new(&path)
        .env_clear()
        .envs([
            (
                "AWS_LAMBDA_RUNTIME_API",
                runtime.addr().to_string().as_str(),
            ),
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
    while !(runtime.response().is_some() && runtime.polls() >= 2)
        && runtime.error().is_none()
        && Instant::now() < deadline
    {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the function exited ({status}) before answering");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.start_kill();
    assert_eq!(runtime.error(), None, "the function reported an error");
    let response: Value =
        serde_json::from_slice(&runtime.response().expect("the function posted a response"))
            .expect("a JSON response");
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
    assert!(
        runtime.polls() >= 2,
        "the function polled for its next event"
    );
}
