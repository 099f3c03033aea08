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

/// Change `user`'s role as the owner (stepped up already): prepare, then confirm.
async fn change_role(s: &Stack, owner: &str, user: &str, role: &str) {
    let path = format!("/users/{user}/role");
    let body = json!({"role": role});
    let prepared = s.call("PATCH", &path, Some(owner), Some(&body)).await;
    assert_eq!(prepared.status, 202, "{}", prepared.body);
    let mut confirmed = body;
    confirmed["confirmation_id"] = prepared.body["confirmation_id"].clone();
    let done = s.call("PATCH", &path, Some(owner), Some(&confirmed)).await;
    assert_eq!(done.status, 200, "{}", done.body);
}

/// A fresh sign-in after a role change (sign-in times are whole seconds, and one in the
/// second of the revocation is refused).
async fn sign_in_again(s: &Stack, email: &str) -> String {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    s.sign_in(&s.pool_id, &s.client_id, email).await.0
}

/// A key answers only the role it was used under: after a promotion the same request is a
/// 409 (no replay, nothing created again); after a demotion to technician the request runs
/// afresh and is refused by authorization (403), never answered from the earlier role's
/// record.
#[tokio::test]
async fn a_user_whose_role_changed_gets_no_replay_of_the_earlier_roles_answer() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.user(Role::Owner);
    let user = t.user(Role::Dispatcher);
    let body = new_customer("Keyed Before The Change");
    let post = |token: &str| {
        s.http
            .post(format!("{}/customers", s.api))
            .bearer_auth(token)
            .header("Idempotency-Key", "role-bound")
            .json(&body)
    };
    let first = s.send(post(&user.access_token)).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let again = s.send(post(&user.access_token)).await;
    assert_eq!(again.status, 201, "same role: replayed");
    assert_eq!(again.body, first.body);

    s.step_up(owner, "user_management").await;
    change_role(&s, &owner.access_token, &user.id.to_string(), "admin").await;
    let admin = sign_in_again(&s, &user.email).await;
    let promoted = s.send(post(&admin)).await;
    promoted.assert_problem(409);
    assert!(promoted.headers.get("idempotent-replayed").is_none());

    change_role(&s, &owner.access_token, &user.id.to_string(), "technician").await;
    let tech = sign_in_again(&s, &user.email).await;
    let demoted = s.send(post(&tech)).await;
    demoted.assert_problem(403);
    assert!(demoted.headers.get("idempotent-replayed").is_none());
    assert!(demoted.body.get("id").is_none());

    let listed = s.get("/customers", &owner.access_token).await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
}

/// Below the application: a technician's or a customer's tenant session is refused the
/// tenant's idempotency records by the tenant data role (the guard evaluates template.yaml's
/// policy), reading and writing; a dispatcher's session of the same tenant is not.
#[tokio::test]
async fn technician_and_customer_sessions_are_refused_idempotency_records_by_the_guard() {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;
    use aws_sdk_dynamodb::types::AttributeValue;
    use fieldvault_core::ids::UserId;
    use fieldvault_core::keys;
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let settings = s.settings();
    let sessions = s.sessions();
    let key = keys::idempotency(&t.id, &"ab".repeat(32));
    let item = |extra: bool| {
        let mut m = std::collections::HashMap::from([
            ("pk".to_owned(), AttributeValue::S(key.pk.clone())),
            ("sk".to_owned(), AttributeValue::S(key.sk.clone())),
        ]);
        if extra {
            m.insert("state".into(), AttributeValue::S("done".into()));
        }
        m
    };
    let customer = UserId::parse("link-0123456789abcdef").expect("user id");
    let cases = [
        (Role::Technician, t.user(Role::Technician).id.clone(), false),
        (Role::Customer, customer, false),
        (Role::Dispatcher, t.user(Role::Dispatcher).id.clone(), true),
    ];
    for (role, user, allowed) in cases {
        // Each as the function class that opens such sessions: customers only the portal's.
        let class = if role == Role::Customer {
            fieldvault_aws::session::execution_roles::PORTAL
        } else {
            fieldvault_aws::session::execution_roles::STAFF
        };
        let session =
            fieldvault_aws::session::acting_as(class, sessions.session(&t.id, role, &user))
                .await
                .expect("session");
        let ddb = session.dynamodb();
        let read = ddb
            .get_item()
            .table_name(&settings.data_table)
            .set_key(Some(item(false)))
            .send()
            .await;
        let write = ddb
            .put_item()
            .table_name(&settings.data_table)
            .set_item(Some(item(true)))
            .send()
            .await;
        let denied = |code: Option<&str>| code == Some("AccessDeniedException");
        assert_eq!(
            !denied(read.as_ref().err().and_then(|e| e.code())),
            allowed,
            "{role} read: {read:?}"
        );
        assert_eq!(
            !denied(write.as_ref().err().and_then(|e| e.code())),
            allowed,
            "{role} write: {write:?}"
        );
        if allowed {
            assert!(read.is_ok() && write.is_ok(), "{role}");
        }
    }
}
