//! Invoices: drafts from jobs, frozen once issued, and numbering that stays unique and
//! gapless under many concurrent issues.
use std::collections::BTreeSet;

use fieldvault_core::caller::Role;
use fieldvault_system_tests::{assert_role_matrix, new_customer, RoleCase, Stack, TestTenant};
use serde_json::{json, Value};

async fn customer(s: &Stack, t: &TestTenant) -> String {
    let c = s
        .post(
            "/customers",
            t.token(Role::Owner),
            &new_customer("Billing Customer"),
        )
        .await;
    c.body["id"].as_str().expect("id").to_owned()
}

fn lines() -> Value {
    json!([{"description": "Service call", "quantity": "1", "unit_price_minor": 12900, "tax_rate": "0"}])
}

#[tokio::test]
async fn an_invoice_from_a_job_bills_the_approved_option_and_freezes_when_issued() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let office = t.token(Role::Dispatcher);
    let billing = t.token(Role::Accounting);
    let cid = customer(&s, &t).await;
    let e = s
        .post("/estimates", office, &json!({"customer_id": cid, "title": "Tune-up", "valid_until": "2999-01-01", "options": [
            {"name": "Basic", "lines": [{"description": "Tune-up", "quantity": "1", "unit_price_minor": 14900, "tax_rate": "8"}]}]}))
        .await;
    let eid = e.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        s.call(
            "POST",
            &format!("/estimates/{eid}/send"),
            Some(office),
            None
        )
        .await
        .status,
        200
    );
    s.post(
        &format!("/estimates/{eid}/approve"),
        office,
        &json!({"option_id": e.body["options"][0]["id"], "revision": 1, "approved_by_name": "Kim"}),
    )
    .await;
    let job = s
        .post(
            "/jobs",
            office,
            &json!({"customer_id": cid, "estimate_id": eid}),
        )
        .await;
    let jid = job.body["id"].as_str().expect("id").to_owned();

    let inv = s
        .post(
            "/invoices",
            billing,
            &json!({"customer_id": cid, "job_id": jid, "due_in_days": 15}),
        )
        .await;
    assert_eq!(inv.status, 201, "{}", inv.body);
    assert_eq!(inv.body["lines"][0]["description"], "Tune-up");
    assert_eq!(
        inv.body["totals"],
        json!({"subtotal_minor": 14900, "tax_minor": 1192, "total_minor": 16092})
    );
    assert_eq!(inv.body["status"], "draft");
    assert!(inv.body["number"].is_null());
    let id = inv.body["id"].as_str().expect("id").to_owned();

    let mut more = inv.body["lines"].clone();
    more.as_array_mut().expect("lines").push(json!({"description": "Filter", "quantity": "2", "unit_price_minor": 1500, "tax_rate": "8"}));
    let revise_lines: Vec<Value> = more
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| json!({"description": l["description"], "quantity": l["quantity"], "unit_price_minor": l["unit_price_minor"], "tax_rate": l["tax_rate"]}))
        .collect();
    let revised = s
        .patch(
            &format!("/invoices/{id}"),
            billing,
            &json!({"lines": revise_lines}),
        )
        .await;
    assert_eq!(revised.status, 200, "{}", revised.body);
    assert_eq!(revised.body["totals"]["total_minor"], 16092 + 3240);

    let issued = s
        .call(
            "POST",
            &format!("/invoices/{id}/issue"),
            Some(billing),
            None,
        )
        .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    assert_eq!(issued.body["number"], 1);
    assert_eq!(
        issued.body["balance_minor"],
        issued.body["totals"]["total_minor"]
    );
    assert_eq!(issued.body["overdue"], false);
    assert!(issued.body["due_date"].is_string());
    s.call(
        "POST",
        &format!("/invoices/{id}/issue"),
        Some(billing),
        None,
    )
    .await
    .assert_problem(409);
    s.patch(
        &format!("/invoices/{id}"),
        billing,
        &json!({"due_in_days": 60}),
    )
    .await
    .assert_problem(409);

    let again = s
        .post(
            "/invoices",
            billing,
            &json!({"customer_id": cid, "lines": lines()}),
        )
        .await;
    let second = s
        .call(
            "POST",
            &format!("/invoices/{}/issue", again.body["id"].as_str().expect("id")),
            Some(billing),
            None,
        )
        .await;
    assert_eq!(second.body["number"], 2);

    let audit = s.audit(&t).await;
    assert_eq!(
        audit
            .iter()
            .filter(|r| r["action"] == "invoice.issue")
            .count(),
        2
    );
}

#[tokio::test]
async fn concurrent_issues_get_unique_gapless_numbers() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let billing = t.token(Role::Accounting).to_owned();
    let cid = customer(&s, &t).await;
    const N: u64 = 20;
    let mut ids = Vec::new();
    for _ in 0..N {
        let d = s
            .post(
                "/invoices",
                &billing,
                &json!({"customer_id": cid, "lines": lines()}),
            )
            .await;
        assert_eq!(d.status, 201, "{}", d.body);
        ids.push(d.body["id"].as_str().expect("id").to_owned());
    }
    let mut tasks = tokio::task::JoinSet::new();
    for id in ids.clone() {
        let (http, api, token) = (s.http.clone(), s.api.clone(), billing.clone());
        tasks.spawn(async move {
            let r = http
                .post(format!("{api}/invoices/{id}/issue"))
                .bearer_auth(token)
                .send()
                .await
                .expect("send");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let mut numbers = BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        let (status, body) = done.expect("task");
        assert_eq!(status, 200, "{body}");
        assert!(
            numbers.insert(body["number"].as_u64().expect("number")),
            "duplicate number {body}"
        );
    }
    assert_eq!(
        numbers,
        (1..=N).collect::<BTreeSet<u64>>(),
        "unique and gapless"
    );
    // Each invoice kept the number it was issued with.
    for id in ids {
        let got = s.get(&format!("/invoices/{id}"), &billing).await;
        assert!(numbers.contains(&got.body["number"].as_u64().expect("number")));
    }
}

#[tokio::test]
async fn billing_by_role_and_across_tenants() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let other = s.tenant().await;
    let cid = customer(&s, &t).await;
    let d = s
        .post(
            "/invoices",
            t.token(Role::Owner),
            &json!({"customer_id": cid, "lines": lines()}),
        )
        .await;
    let id = d.body["id"].as_str().expect("id").to_owned();
    use Role::*;
    let cases: Vec<RoleCase> = vec![
        (
            "POST",
            "/invoices".into(),
            Some(json!({"customer_id": cid, "lines": lines()})),
            &[Owner, Admin, Accounting],
        ),
        (
            "GET",
            format!("/invoices/{id}"),
            None,
            &[Owner, Admin, Dispatcher, Accounting],
        ),
        (
            "PATCH",
            format!("/invoices/{id}"),
            Some(json!({"due_in_days": 10})),
            &[Owner, Admin, Accounting],
        ),
        (
            "POST",
            format!("/invoices/{id}/issue"),
            None,
            &[Owner, Admin, Accounting],
        ),
    ];
    assert_role_matrix(&s, &t, &cases).await;
    s.get(&format!("/invoices/{id}"), other.token(Owner))
        .await
        .assert_problem(404);
    let theirs = customer(&s, &other).await;
    s.post(
        "/invoices",
        t.token(Owner),
        &json!({"customer_id": theirs, "lines": lines()}),
    )
    .await
    .assert_problem(400);
    s.post("/invoices", t.token(Owner), &json!({"customer_id": cid, "lines": [{"description": "Card", "quantity": "1", "unit_price_minor": 1, "tax_rate": "0"}], "notes": "4000 0566 5566 5556"})).await.assert_problem(400);
}
