//! Estimates: pricing, the draft → sent → approved/declined machine, revisions, and who may
//! touch them (technicians never: estimates carry prices).
use fieldvault_core::caller::Role;
use fieldvault_system_tests::{assert_role_matrix, new_customer, RoleCase, Stack, TestTenant};
use serde_json::{json, Value};

async fn customer(s: &Stack, t: &TestTenant) -> String {
    let c = s
        .post(
            "/customers",
            t.token(Role::Owner),
            &new_customer("Estimate Customer"),
        )
        .await;
    assert_eq!(c.status, 201, "{}", c.body);
    c.body["id"].as_str().expect("id").to_owned()
}

fn estimate_body(customer_id: &str) -> Value {
    json!({
        "customer_id": customer_id,
        "title": "Furnace replacement",
        "valid_until": "2999-12-31",
        "options": [
            {"name": "Good", "lines": [
                {"description": "80% furnace", "quantity": "1", "unit_price_minor": 350000, "tax_rate": "8.25"},
                {"description": "Labour", "quantity": "1.5", "unit_price_minor": 333, "tax_rate": "8.875"}
            ]},
            {"name": "Best", "lines": [{"description": "96% furnace", "quantity": "1", "unit_price_minor": 520000, "tax_rate": "8.25"}]}
        ]
    })
}

#[tokio::test]
async fn estimate_lifecycle_with_revision_and_approval_snapshot() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let token = t.token(Role::Dispatcher);
    let cid = customer(&s, &t).await;
    let created = s.post("/estimates", token, &estimate_body(&cid)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    // Per-line half-up: 350000 + 28875 tax; 1.5 × 333 = 499.5 → 500, tax 8.875% = 44.375 → 44.
    assert_eq!(
        created.body["options"][0]["totals"],
        json!({"subtotal_minor": 350500, "tax_minor": 28919, "total_minor": 379419})
    );
    assert_eq!(created.body["status"], "draft");
    assert_eq!(created.body["revision"], 1);
    let best = created.body["options"][1]["id"].clone();

    let approve = |revision: u32| json!({"option_id": best, "revision": revision, "approved_by_name": "Pat Doe"});
    s.post(&format!("/estimates/{id}/approve"), token, &approve(1))
        .await
        .assert_problem(409);
    let sent = s
        .call("POST", &format!("/estimates/{id}/send"), Some(token), None)
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(sent.body["status"], "sent");
    s.call("POST", &format!("/estimates/{id}/send"), Some(token), None)
        .await
        .assert_problem(409);

    // Changing a sent estimate makes revision 2; revision 1 can no longer be approved.
    let revised = s
        .patch(
            &format!("/estimates/{id}"),
            token,
            &json!({"title": "Furnace + thermostat"}),
        )
        .await;
    assert_eq!(revised.status, 200, "{}", revised.body);
    assert_eq!(
        (
            revised.body["revision"].clone(),
            revised.body["status"].clone()
        ),
        (json!(2), json!("draft"))
    );
    assert_eq!(
        s.call("POST", &format!("/estimates/{id}/send"), Some(token), None)
            .await
            .status,
        200
    );
    s.post(&format!("/estimates/{id}/approve"), token, &approve(1))
        .await
        .assert_problem(409);
    let approved = s
        .post(&format!("/estimates/{id}/approve"), token, &approve(2))
        .await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.body["status"], "approved");
    let decision = &approved.body["decision"];
    assert_eq!(decision["option_id"], best);
    assert_eq!(decision["customer_name"], "Pat Doe");
    assert_eq!(
        decision["recorded_by"],
        t.user(Role::Dispatcher).id.as_str()
    );
    assert_eq!(decision["snapshot_sha256"].as_str().map(str::len), Some(64));
    // Decided estimates do not change.
    s.patch(
        &format!("/estimates/{id}"),
        token,
        &json!({"title": "Sneaky"}),
    )
    .await
    .assert_problem(409);
    s.post(&format!("/estimates/{id}/decline"), token, &json!({}))
        .await
        .assert_problem(409);

    let audit = s.audit(&t).await;
    let rec = audit
        .iter()
        .find(|r| r["action"] == "estimate.approve")
        .expect("approval audited");
    assert!(rec["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .any(|c| c["path"] == "/status" && c["after"] == "approved"));
}

#[tokio::test]
async fn declining_and_bad_estimates() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let other = s.tenant().await;
    let token = t.token(Role::Owner);
    let cid = customer(&s, &t).await;
    let e = s.post("/estimates", token, &estimate_body(&cid)).await;
    let id = e.body["id"].as_str().expect("id");
    assert_eq!(
        s.call("POST", &format!("/estimates/{id}/send"), Some(token), None)
            .await
            .status,
        200
    );
    let declined = s
        .post(
            &format!("/estimates/{id}/decline"),
            token,
            &json!({"reason": "Too expensive"}),
        )
        .await;
    assert_eq!(declined.body["status"], "declined");
    assert_eq!(declined.body["decision"]["reason"], "Too expensive");

    let theirs = customer(&s, &other).await;
    s.post("/estimates", token, &estimate_body(&theirs))
        .await
        .assert_problem(400);
    let mut past = estimate_body(&cid);
    past["valid_until"] = json!("2001-01-01");
    s.post("/estimates", token, &past).await.assert_problem(400);
    let mut bad_qty = estimate_body(&cid);
    bad_qty["options"][0]["lines"][1]["quantity"] = json!("1.2345");
    let r = s.post("/estimates", token, &bad_qty).await;
    r.assert_problem(400);
    assert_eq!(r.body["errors"][0]["field"], "options[0].lines[1].quantity");
    let mut none = estimate_body(&cid);
    none["options"] = json!([]);
    s.post("/estimates", token, &none).await.assert_problem(400);
    // Their estimate id means nothing here.
    s.get(&format!("/estimates/{id}"), other.token(Role::Owner))
        .await
        .assert_problem(404);
}

#[tokio::test]
async fn estimate_routes_by_role() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let cid = customer(&s, &t).await;
    let e = s
        .post("/estimates", t.token(Role::Owner), &estimate_body(&cid))
        .await;
    let id = e.body["id"].as_str().expect("id").to_owned();
    let option = e.body["options"][0]["id"].clone();
    use Role::*;
    let cases: Vec<RoleCase> = vec![
        (
            "POST",
            "/estimates".into(),
            Some(estimate_body(&cid)),
            &[Owner, Admin, Dispatcher],
        ),
        (
            "GET",
            format!("/estimates/{id}"),
            None,
            &[Owner, Admin, Dispatcher, Accounting],
        ),
        (
            "PATCH",
            format!("/estimates/{id}"),
            Some(json!({"title": "T"})),
            &[Owner, Admin, Dispatcher],
        ),
        (
            "POST",
            format!("/estimates/{id}/send"),
            None,
            &[Owner, Admin, Dispatcher],
        ),
        (
            "POST",
            format!("/estimates/{id}/approve"),
            Some(json!({"option_id": option, "revision": 1, "approved_by_name": "P"})),
            &[Owner, Admin, Dispatcher],
        ),
        (
            "POST",
            format!("/estimates/{id}/decline"),
            Some(json!({})),
            &[Owner, Admin, Dispatcher],
        ),
    ];
    assert_role_matrix(&s, &t, &cases).await;
}
