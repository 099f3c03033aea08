//! `Idempotency-Key` on creating POSTs: replay, mismatch, concurrent duplicates.
use fieldvault_core::caller::Role;
use fieldvault_system_tests::{new_customer, Stack};
use serde_json::json;

#[tokio::test]
async fn same_key_and_body_replays_different_body_is_422() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let token = t.token(Role::Dispatcher);
    let body = new_customer("Once Only");
    let post = |b: &serde_json::Value, key: &str| {
        s.http
            .post(format!("{}/customers", s.api))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(b)
    };
    let first = s.send(post(&body, "key-1")).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let again = s.send(post(&body, "key-1")).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body, "the first response, replayed");
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    again.assert_security_headers();

    let mut other = body.clone();
    other["name"] = json!("Someone Else");
    s.send(post(&other, "key-1")).await.assert_problem(422);
    s.send(post(&body, &"k".repeat(300)))
        .await
        .assert_problem(400);

    let listed = s.get("/customers", token).await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(1),
        "created once"
    );
    let creates = s
        .audit(&t)
        .await
        .into_iter()
        .filter(|r| r["action"] == "customer.create")
        .count();
    assert_eq!(creates, 1);

    // A refused request does not burn the key: the corrected retry goes through.
    let bad = json!({"name": ""});
    s.send(post(&bad, "key-2")).await.assert_problem(400);
    let mut fixed = new_customer("Fixed");
    fixed["name"] = json!("Fixed");
    // Same key, different (corrected) body: allowed because nothing was stored for the refusal.
    assert_eq!(s.send(post(&fixed, "key-2")).await.status, 201);
}

#[tokio::test]
async fn concurrent_duplicates_create_once() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let token = t.token(Role::Dispatcher);
    let body = json!({"source": "call", "contact": {"name": "Dup", "phone": "5550177777"}});
    let send = || {
        s.send(
            s.http
                .post(format!("{}/intake", s.api))
                .bearer_auth(token)
                .header("Idempotency-Key", "same-call")
                .json(&body),
        )
    };
    let results = futures_join(send(), send(), send()).await;
    let ok: Vec<_> = results.iter().filter(|r| r.status == 201).collect();
    assert!(!ok.is_empty(), "one of them went through");
    for r in &results {
        assert!(
            r.status == 201 || r.status == 409,
            "{} {}",
            r.status,
            r.body
        );
    }
    assert!(
        ok.windows(2)
            .all(|w| w[0].body["lead"]["id"] == w[1].body["lead"]["id"]),
        "one lead, replayed"
    );
    let intakes = s
        .audit(&t)
        .await
        .into_iter()
        .filter(|r| r["action"] == "intake.create")
        .count();
    assert_eq!(intakes, 1, "the intake happened once");
}

async fn futures_join<F: std::future::Future>(a: F, b: F, c: F) -> Vec<F::Output> {
    let (a, b, c) = tokio::join!(a, b, c);
    vec![a, b, c]
}
