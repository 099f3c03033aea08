//! What's next and the connected record: tasks follow the work from lead to payment, and a
//! customer's timeline shows everything in order, shaped by role.
use fieldvault_core::caller::Role;
use fieldvault_system_tests::{Stack, TestTenant};
use serde_json::{json, Value};

async fn task_kinds(s: &Stack, t: &TestTenant, role: Role) -> Vec<String> {
    let r = s.get("/tasks", t.token(role)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["kind"].as_str().map(str::to_owned))
        .collect()
}

fn task_id(list: &Value, kind: &str) -> String {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["kind"] == kind)
        .and_then(|t| t["id"].as_str())
        .expect("task")
        .to_owned()
}

#[tokio::test]
async fn tasks_follow_the_work_from_lead_to_payment_and_the_timeline_connects_it() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let office = t.token(Role::Dispatcher);
    let billing = t.token(Role::Accounting);
    let tech = t.user(Role::Technician);

    let lead = s.post("/intake", office, &json!({"source": "call", "contact": {"name": "Robin", "phone": "5550142000"}, "notes": "Leaking heater"})).await;
    let cid = lead.body["customer"]["id"]
        .as_str()
        .expect("customer")
        .to_owned();
    assert_eq!(
        task_kinds(&s, &t, Role::Dispatcher).await,
        vec!["follow_up_lead"]
    );
    assert!(task_kinds(&s, &t, Role::Accounting).await.is_empty());
    assert!(task_kinds(&s, &t, Role::Technician).await.is_empty());
    let list = s.get("/tasks", office).await;
    let follow_up = task_id(&list.body, "follow_up_lead");
    s.post(&format!("/tasks/{follow_up}/complete"), billing, &json!({}))
        .await
        .assert_problem(404);
    s.call(
        "POST",
        &format!("/tasks/{follow_up}/complete"),
        Some(&tech.access_token),
        None,
    )
    .await
    .assert_problem(404);
    let done = s
        .call(
            "POST",
            &format!("/tasks/{follow_up}/complete"),
            Some(office),
            None,
        )
        .await;
    assert_eq!(done.body["status"], "done", "{}", done.body);
    assert!(task_kinds(&s, &t, Role::Dispatcher).await.is_empty());

    let e = s
        .post("/estimates", office, &json!({"customer_id": cid, "title": "Water heater", "valid_until": "2999-01-01", "options": [
            {"name": "Tank", "lines": [{"description": "50 gal tank", "quantity": "1", "unit_price_minor": 180000, "tax_rate": "6"}]}]}))
        .await;
    let eid = e.body["id"].as_str().expect("id").to_owned();
    s.call(
        "POST",
        &format!("/estimates/{eid}/send"),
        Some(office),
        None,
    )
    .await;
    let list = s.get("/tasks", office).await;
    let chase = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["kind"] == "estimate_follow_up")
        .expect("chase task")
        .clone();
    assert_eq!(chase["overdue"], false);
    let snoozed = s
        .post(
            &format!("/tasks/{}/snooze", chase["id"].as_str().expect("id")),
            office,
            &json!({"until": "2001-01-01T00:00:00Z"}),
        )
        .await;
    snoozed.assert_problem(400);
    s.post(&format!("/estimates/{eid}/approve"), office, &json!({"option_id": e.body["options"][0]["id"], "revision": 1, "approved_by_name": "Robin"})).await;
    assert_eq!(
        task_kinds(&s, &t, Role::Dispatcher).await,
        vec!["schedule_job"]
    );

    let job = s
        .post(
            "/jobs",
            office,
            &json!({"customer_id": cid, "estimate_id": eid}),
        )
        .await;
    let jid = job.body["id"].as_str().expect("id").to_owned();
    assert!(task_kinds(&s, &t, Role::Dispatcher).await.is_empty());
    let start = time::OffsetDateTime::now_utc();
    let fmt = &time::format_description::well_known::Rfc3339;
    let visit = s
        .post(&format!("/jobs/{jid}/visits"), office, &json!({"window_start": start.format(fmt).expect("t"), "window_end": (start + time::Duration::hours(2)).format(fmt).expect("t"), "technician_id": tech.id}))
        .await;
    let vid = visit.body["visits"][0]["id"]
        .as_str()
        .expect("visit")
        .to_owned();
    s.post(
        &format!("/jobs/{jid}/visits/{vid}/progress"),
        &tech.access_token,
        &json!({"status": "done", "note": "Installed"}),
    )
    .await;
    s.post(
        &format!("/jobs/{jid}/status"),
        office,
        &json!({"status": "completed"}),
    )
    .await;
    assert_eq!(
        task_kinds(&s, &t, Role::Dispatcher).await,
        vec!["request_review"]
    );
    assert_eq!(
        task_kinds(&s, &t, Role::Accounting).await,
        vec!["invoice_job"]
    );

    let inv = s
        .post(
            "/invoices",
            billing,
            &json!({"customer_id": cid, "job_id": jid}),
        )
        .await;
    assert!(task_kinds(&s, &t, Role::Accounting).await.is_empty());
    let iid = inv.body["id"].as_str().expect("id").to_owned();
    s.call(
        "POST",
        &format!("/invoices/{iid}/issue"),
        Some(billing),
        None,
    )
    .await;
    assert_eq!(
        task_kinds(&s, &t, Role::Accounting).await,
        vec!["collect_payment"]
    );
    let owner_sees: Vec<String> = task_kinds(&s, &t, Role::Owner).await;
    assert!(
        owner_sees.contains(&"collect_payment".to_string())
            && owner_sees.contains(&"request_review".to_string())
    );

    // The connected record, in order.
    let tl = s.get(&format!("/customers/{cid}/timeline"), office).await;
    assert_eq!(tl.status, 200, "{}", tl.body);
    let kinds: Vec<&str> = tl.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, vec!["lead", "estimate", "job", "invoice"]);
    assert_eq!(
        tl.body["entries"][2]["record"]["visits"][0]["notes"][0]["text"],
        "Installed"
    );
    // The technician sees the customer's timeline only through their job, without billing.
    let theirs = s
        .get(&format!("/customers/{cid}/timeline"), &tech.access_token)
        .await;
    assert_eq!(theirs.status, 200, "{}", theirs.body);
    let kinds: Vec<&str> = theirs.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, vec!["job"]);
    assert!(!theirs.body.to_string().contains("unit_price_minor"));

    let audit = s.audit(&t).await;
    assert!(audit
        .iter()
        .any(|r| r["action"] == "task.complete" && r["actor_role"] == "dispatcher"));
}

#[tokio::test]
async fn timelines_by_role_and_tenant() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let other = s.tenant().await;
    let lead = s
        .post(
            "/intake",
            t.token(Role::Owner),
            &json!({"source": "form", "contact": {"name": "Lee", "email": "lee@example.com"}}),
        )
        .await;
    let cid = lead.body["customer"]["id"]
        .as_str()
        .expect("customer")
        .to_owned();
    for role in Role::ALL {
        let r = s
            .get(&format!("/customers/{cid}/timeline"), t.token(role))
            .await;
        if role == Role::Technician {
            r.assert_problem(403);
        } else {
            assert_eq!(r.status, 200, "{role}");
        }
    }
    s.get(
        &format!("/customers/{cid}/timeline"),
        other.token(Role::Owner),
    )
    .await
    .assert_problem(404);
}
