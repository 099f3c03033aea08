//! Dependencies that stall: DynamoDB Local (and moto, for STS and KMS) paused with SIGSTOP
//! mid-load. Every request still answers within the request deadline (plus the gateway's
//! overhead), with a 503 problem, `Retry-After` and the security headers while the dependency
//! is away; the API recovers once it is back; and a creating POST retried with the same
//! `Idempotency-Key` after a 503 ends with its change made exactly once.
//!
//! Pausing the stack's emulators would fail every other test running at the time, so these
//! tests are ignored in the main run and infra/local/test.sh runs them alone after it
//! (`--ignored --test-threads 1`), with the emulators' pids in `FV_DDB_PID` and `FV_MOTO_PID`.
//! A paused emulator is resumed when its guard drops, a failing test included.
use std::time::{Duration, Instant};

use fieldvault_aws::bounds::{REQUEST_DEADLINE, RETRY_AFTER_SECONDS};
use fieldvault_core::caller::Role;
use fieldvault_system_tests::{new_customer, Reply, Stack};
use serde_json::Value;

/// The longest any answer may take: the request deadline, plus the local gateway's own work.
fn bound() -> Duration {
    REQUEST_DEADLINE + Duration::from_millis(1500)
}

/// An emulator process stopped with SIGSTOP until this is dropped (SIGCONT), also when the
/// test fails.
struct Paused {
    pid: String,
}

fn signal(sig: &str, pid: &str) -> bool {
    std::process::Command::new("kill")
        .args([sig, pid])
        .status()
        .is_ok_and(|s| s.success())
}

impl Paused {
    fn pause(pid_var: &str) -> Paused {
        let pid = std::env::var(pid_var)
            .unwrap_or_else(|_| panic!("{pid_var} (set by infra/local/test.sh)"));
        assert!(pid.parse::<u32>().is_ok(), "{pid_var}={pid}");
        assert!(signal("-STOP", &pid), "SIGSTOP {pid}");
        Paused { pid }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if !signal("-CONT", &self.pid) {
            eprintln!("could not resume process {}", self.pid);
        }
    }
}

/// A 503 as a stalled dependency must give it: problem+json, `Retry-After`, security headers.
fn assert_unavailable(r: &Reply) {
    r.assert_problem(503);
    assert_eq!(
        r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some(RETRY_AFTER_SECONDS.to_string().as_str()),
        "Retry-After on a 503"
    );
}

struct Sent {
    key: String,
    body: Value,
    status: u16,
    started: Instant,
    ended: Instant,
}

async fn create(s: &Stack, token: &str, key: &str, body: &Value) -> (Reply, Duration) {
    let started = Instant::now();
    let r = s
        .send(
            s.http
                .post(format!("{}/customers", s.api))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(body),
        )
        .await;
    (r, started.elapsed())
}

/// Every customer name of the tenant, following the cursor.
async fn all_names(s: &Stack, token: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/customers?limit=100&cursor={c}"),
            None => "/customers?limit=100".to_owned(),
        };
        let page = s.get(&path, token).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for c in page.body["items"].as_array().into_iter().flatten() {
            names.push(c["name"].as_str().unwrap_or_default().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return names,
        }
    }
}

#[tokio::test]
#[ignore = "pauses the stack's DynamoDB Local: infra/local/test.sh runs it alone, after the other tests"]
async fn a_stalled_dynamodb_is_bounded_503s_then_recovery_with_no_write_lost_or_doubled() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let token = t.token(Role::Dispatcher);
    let run = ulid::Ulid::new().to_string();
    let run = run.get(20..).unwrap_or("run");
    // Warm the gateway's session for this user (as a running function would be).
    assert_eq!(s.get("/customers", token).await.status, 200);

    let t0 = Instant::now();
    let pause_after = Duration::from_millis(1500);
    let stall = Duration::from_secs(12);
    let stop_after = pause_after + stall + Duration::from_secs(5);
    let mut window = (t0, t0);
    let control = async {
        tokio::time::sleep(pause_after).await;
        let paused = Paused::pause("FV_DDB_PID");
        let from = Instant::now();
        tokio::time::sleep(stall).await;
        drop(paused);
        window = (from, Instant::now());
    };
    let writer = |w: usize| {
        let s = &s;
        async move {
            let mut sent = Vec::new();
            let mut n = 0;
            while t0.elapsed() < stop_after {
                n += 1;
                let key = format!("stall-{run}-{w}-{n}");
                let body = new_customer(&format!("Stall {run} {w}-{n}"));
                let started = Instant::now();
                let (r, took) = create(s, token, &key, &body).await;
                assert!(took <= bound(), "{key} took {took:?}");
                match r.status {
                    201 => {}
                    503 => assert_unavailable(&r),
                    other => panic!("{key}: {other} {}", r.body),
                }
                sent.push(Sent {
                    key,
                    body,
                    status: r.status,
                    started,
                    ended: Instant::now(),
                });
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            sent
        }
    };
    let reader = async {
        let mut statuses = Vec::new();
        while t0.elapsed() < stop_after {
            let started = Instant::now();
            let r = s.get("/customers?limit=5", token).await;
            let took = started.elapsed();
            assert!(took <= bound(), "a read took {took:?}");
            match r.status {
                200 => {}
                503 => assert_unavailable(&r),
                other => panic!("read: {other} {}", r.body),
            }
            statuses.push((r.status, started, Instant::now()));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        statuses
    };
    let ((), a, b, c, reads) = tokio::join!(control, writer(1), writer(2), writer(3), reader);
    let (paused_at, resumed_at) = window;
    let sent: Vec<Sent> = a.into_iter().chain(b).chain(c).collect();

    // While the store was away, everything that began and ended inside the stall was a 503.
    let inside = |started: Instant, ended: Instant| started >= paused_at && ended <= resumed_at;
    let stalled_writes = sent.iter().filter(|x| inside(x.started, x.ended)).count();
    assert!(stalled_writes > 0, "writes were sent during the stall");
    for x in sent.iter().filter(|x| inside(x.started, x.ended)) {
        assert_eq!(x.status, 503, "{} during the stall", x.key);
    }
    let stalled_reads: Vec<_> = reads.iter().filter(|r| inside(r.1, r.2)).collect();
    assert!(!stalled_reads.is_empty());
    assert!(stalled_reads.iter().all(|r| r.0 == 503));
    // Before the stall and after it, the API answered.
    assert!(sent.iter().any(|x| x.ended < paused_at && x.status == 201));
    assert!(
        sent.iter()
            .any(|x| x.started > resumed_at && x.status == 201),
        "writes recover after the stall"
    );
    assert!(reads.iter().any(|r| r.1 > resumed_at && r.0 == 200));

    // Every write that was not answered 201 is retried with its key and body: it ends in its
    // committed answer (201), or a 409 that says it was committed; never a second customer.
    for x in sent.iter().filter(|x| x.status != 201) {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let (r, took) = create(&s, token, &x.key, &x.body).await;
            assert!(took <= bound());
            let in_progress = r.status == 409
                && r.body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("in progress"));
            if r.status == 201 || (r.status == 409 && !in_progress) {
                break;
            }
            assert!(
                r.status == 503 || in_progress,
                "{}: {} {}",
                x.key,
                r.status,
                r.body
            );
            assert!(Instant::now() < deadline, "{} never settled", x.key);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let names = all_names(&s, token).await;
    for x in &sent {
        let name = x.body["name"].as_str().unwrap_or_default();
        let count = names.iter().filter(|n| *n == name).count();
        assert_eq!(
            count, 1,
            "{}: {count} customers (status {})",
            x.key, x.status
        );
    }
    assert_eq!(names.len(), sent.len(), "no other customer appeared");
}

#[tokio::test]
#[ignore = "pauses the stack's moto (STS, KMS): infra/local/test.sh runs it alone, after the other tests"]
async fn a_stalled_sts_or_kms_is_a_bounded_503_and_the_routes_recover() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let fresh = s.tenant().await;
    let office = t.token(Role::Dispatcher);
    let c = s
        .post("/customers", office, &new_customer("Stall KMS"))
        .await;
    assert_eq!(c.status, 201, "{}", c.body);
    let cid = c.body["id"].as_str().expect("id");
    let e = s
        .post(
            "/estimates",
            office,
            &serde_json::json!({"customer_id": cid, "title": "Boiler", "valid_until": "2999-01-01", "options": [
                {"name": "Only", "lines": [{"description": "Boiler", "quantity": "1", "unit_price_minor": 100000, "tax_rate": "0"}]}]}),
        )
        .await;
    assert_eq!(e.status, 201, "{}", e.body);
    let send_path = format!("/estimates/{}/send", e.body["id"].as_str().expect("id"));

    {
        let _paused = Paused::pause("FV_MOTO_PID");
        // Sending seals the link with KMS (the session is cached: DynamoDB answers).
        let started = Instant::now();
        let sent = s.call("POST", &send_path, Some(office), None).await;
        assert!(started.elapsed() <= bound(), "{:?}", started.elapsed());
        assert_unavailable(&sent);
        // A user whose tenant session is not open yet needs STS first.
        let started = Instant::now();
        let me = s.get("/me", fresh.token(Role::Owner)).await;
        assert!(started.elapsed() <= bound(), "{:?}", started.elapsed());
        assert_unavailable(&me);
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    let sent = loop {
        let r = s.call("POST", &send_path, Some(office), None).await;
        if r.status != 503 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(sent.body["status"], "sent");
    let me = s.get("/me", fresh.token(Role::Owner)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    let sends = s
        .audit(&t)
        .await
        .into_iter()
        .filter(|r| r["action"] == "estimate.send" && r["outcome"] == "success")
        .count();
    assert_eq!(sends, 1, "sent once");
}
