//! How long anything may take, and what every route refuses before its handler runs.
//!
//! A function has 10 seconds (template.yaml's `Timeout`). Every AWS call is bounded well
//! inside that (connect, first byte, attempt, whole operation, with a few retries and backoff
//! in between), and every request as a whole by `REQUEST_DEADLINE`: a stalled dependency
//! costs a bounded wait and a 503 with `Retry-After`, never a hang that ends in the platform's
//! bare 5xx. What a request committed before its deadline stays committed exactly once: its
//! `Idempotency-Key` marker rides in the same transaction (fieldvault_core::idempotency).
use std::future::Future;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use fieldvault_core::problem::{card_number_in_body, card_refusal, ApiError, MAX_BODY_BYTES};
use lambda_http::{Body, Request, Response};

/// The whole request, from the first byte of its body to the last of the answer; below the
/// function's 10-second timeout with room for the answer to leave.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(8);
/// Opening a connection to an AWS endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The first byte of an answer, once the request is sent. DynamoDB answers in milliseconds.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// One attempt of one AWS call.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(2_500);
/// One AWS call, all its attempts and the backoff between them.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(4);
/// Attempts of one AWS call (the first and two retries, backing off from 50 ms, at most 1 s).
pub const MAX_ATTEMPTS: u32 = 3;
/// One call to the payment provider, connecting included (its client connects within
/// `CONNECT_TIMEOUT`). Not retried here: provider calls carry their own idempotency keys, and
/// the client's retry with its `Idempotency-Key` is the retry.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);
/// What a 503 asks the client to wait before retrying (seconds).
pub const RETRY_AFTER_SECONDS: u32 = 2;

/// The timeouts every AWS client is built with (they come from the base SDK configuration,
/// which every client of the app derives from).
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The retry policy every AWS client is built with: the SDK's standard mode (transient
/// errors, throttling and timeouts retried with jittered exponential backoff).
pub fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_secs(1))
}

/// What every route refuses before its handler runs, whatever the route and the body's
/// content type: a body over the limit (413), and one holding what looks like a card number
/// (400). `None`: the handler may run.
pub fn refuse_body(req: &Request) -> Option<ApiError> {
    let body = req.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Some(ApiError::PayloadTooLarge);
    }
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    card_number_in_body(content_type, body).map(card_refusal)
}

/// Run one request's handler inside the bounds: refused early by `refuse_body`, or answered
/// by `handle` within `REQUEST_DEADLINE`, else a 503. The Lambda entry point and the local
/// gateway both serve through this.
pub async fn bounded<F, Fut>(req: Request, handle: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    within(REQUEST_DEADLINE, req, handle).await
}

async fn within<F, Fut>(deadline: Duration, req: Request, handle: F) -> Response<Body>
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    if let Some(refused) = refuse_body(&req) {
        return crate::app::respond(&req, Err(refused));
    }
    let path = req.uri().path().to_owned();
    match tokio::time::timeout(deadline, handle(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(?deadline, "request deadline passed");
            crate::app::problem_response(
                &ApiError::Unavailable("the request deadline passed".into()),
                &path,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: &str, body: &[u8]) -> Request {
        let mut req = Request::new(Body::Binary(body.to_vec()));
        if let Ok(v) = http::HeaderValue::from_str(content_type) {
            req.headers_mut().insert(http::header::CONTENT_TYPE, v);
        }
        req
    }

    #[test]
    fn bounds_fit_inside_the_function_timeout() {
        let function_timeout = Duration::from_secs(10);
        assert!(REQUEST_DEADLINE < function_timeout);
        assert!(OPERATION_TIMEOUT < REQUEST_DEADLINE);
        assert!(PROVIDER_TIMEOUT < REQUEST_DEADLINE);
        assert!(ATTEMPT_TIMEOUT < OPERATION_TIMEOUT);
        assert!(READ_TIMEOUT <= ATTEMPT_TIMEOUT && CONNECT_TIMEOUT <= ATTEMPT_TIMEOUT);
        let t = timeouts();
        assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(t.read_timeout(), Some(READ_TIMEOUT));
        assert_eq!(retries().max_attempts(), MAX_ATTEMPTS);
        // An idempotency claim outlives any request that may still hold it.
        let lease = fieldvault_core::idempotency::LEASE.whole_seconds();
        assert!(u64::try_from(lease).is_ok_and(|l| l > function_timeout.as_secs()));
    }

    #[test]
    fn every_body_over_the_limit_or_with_a_card_number_is_refused_before_the_handler() {
        let big = vec![b'a'; MAX_BODY_BYTES + 1];
        for ct in ["application/json", "application/x-www-form-urlencoded", ""] {
            assert_eq!(
                refuse_body(&request(ct, &big)),
                Some(ApiError::PayloadTooLarge)
            );
        }
        let refused = refuse_body(&request(
            "application/x-www-form-urlencoded",
            b"action=approve&name=4111+1111+1111+1111",
        ));
        assert!(matches!(refused, Some(ApiError::BadRequest { .. })));
        assert_eq!(
            refuse_body(&request("application/json", br#"{"name":"Pat"}"#)),
            None
        );
        assert_eq!(refuse_body(&request("", &vec![b'a'; MAX_BODY_BYTES])), None);
    }

    #[tokio::test]
    async fn a_handler_past_the_deadline_is_answered_503_with_retry_after() {
        let deadline = Duration::from_millis(50);
        let started = std::time::Instant::now();
        let r = within(deadline, request("application/json", b"{}"), |_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            crate::app::with_headers(200, "application/json", "{}".into())
        })
        .await;
        assert_eq!(r.status(), 503);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            r.headers()
                .get(http::header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(RETRY_AFTER_SECONDS.to_string().as_bytes())
        );
        for (name, _) in fieldvault_core::problem::SECURITY_HEADERS {
            assert!(r.headers().contains_key(*name), "{name}");
        }
    }
}
