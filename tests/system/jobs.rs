//! Jobs: from an approved estimate (scope without prices) or direct; visits assigned to
//! technicians, who see only their own work and move only their own visits.
use fieldvault_core::caller::Role;
use fieldvault_system_tests::{assert_role_matrix, new_customer, RoleCase, Stack, TestTenant};
use serde_json::json;

async fn customer(s: &Stack, t: &TestTenant) -> String {
    let c = s
        .post(
            "/customers",
            t.token(Role::Owner),
            &new_customer("Job Customer"),
        )
        .await;
    c.body["id"].as_str().expect("id").to_owned()
}

fn window() -> (String, String) {
    let start = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    let fmt = &time::format_description::well_known::Rfc3339;
    (
        start.format(fmt).expect("fmt"),
        (start + time::Duration::hours(3)).format(fmt).expect("fmt"),
    )
}

#[tokio::test]
async fn a_job_from_an_approved_estimate_carries_its_scope_not_its_prices() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let office = t.token(Role::Dispatcher);
    let cid = customer(&s, &t).await;
    let e = s
        .post(
            "/estimates",
            office,
            &json!({"customer_id": cid, "title": "New condenser", "valid_until": "2999-01-01", "options": [
                {"name": "Standard", "lines": [{"description": "3-ton condenser", "quantity": "1", "unit_price_minor": 410000, "tax_rate": "7"},
                                               {"description": "Refrigerant (lb)", "quantity": "2.5", "unit_price_minor": 9000}]}]}),
        )
        .await;
    let eid = e.body["id"].as_str().expect("id").to_owned();
    let unapproved = s
        .post(
            "/jobs",
            office,
            &json!({"customer_id": cid, "estimate_id": eid}),
        )
        .await;
    unapproved.assert_problem(409);
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
    let option = e.body["options"][0]["id"].clone();
    let approved = s
        .post(
            &format!("/estimates/{eid}/approve"),
            office,
            &json!({"option_id": option, "revision": 1, "approved_by_name": "Dana"}),
        )
        .await;
    assert_eq!(approved.status, 200);

    let job = s
        .post(
            "/jobs",
            office,
            &json!({"customer_id": cid, "estimate_id": eid}),
        )
        .await;
    assert_eq!(job.status, 201, "{}", job.body);
    assert_eq!(job.body["title"], "New condenser");
    assert_eq!(
        job.body["scope"],
        json!([{"description": "3-ton condenser", "quantity": "1"}, {"description": "Refrigerant (lb)", "quantity": "2.5"}])
    );
    assert_eq!(job.body["status"], "unscheduled");
    assert!(
        !job.body.to_string().contains("price"),
        "no prices on a job"
    );
    s.post(
        "/jobs",
        office,
        &json!({"customer_id": cid, "estimate_id": eid}),
    )
    .await
    .assert_problem(409);
}

#[tokio::test]
async fn technicians_see_and_move_only_their_own_work() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let office = t.token(Role::Dispatcher);
    let tech = t.user(Role::Technician);
    let cid = customer(&s, &t).await;
    let job = s.post("/jobs", office, &json!({"customer_id": cid, "title": "No cooling", "scope": [{"description": "Diagnose", "quantity": "1"}]})).await;
    assert_eq!(job.status, 201, "{}", job.body);
    let jid = job.body["id"].as_str().expect("id").to_owned();

    // Not assigned yet: nothing to see.
    s.get(&format!("/jobs/{jid}"), &tech.access_token)
        .await
        .assert_problem(403);
    let mine = s.get("/jobs", &tech.access_token).await;
    assert_eq!(mine.body["items"].as_array().map(Vec::len), Some(0));
    s.get(&format!("/customers/{cid}"), &tech.access_token)
        .await
        .assert_problem(403);

    // Only a technician of this shop can be assigned.
    let (start, end) = window();
    let not_tech = s
        .post(&format!("/jobs/{jid}/visits"), office, &json!({"window_start": start, "window_end": end, "technician_id": t.user(Role::Accounting).id}))
        .await;
    not_tech.assert_problem(400);
    let backwards = s
        .post(
            &format!("/jobs/{jid}/visits"),
            office,
            &json!({"window_start": end, "window_end": start}),
        )
        .await;
    backwards.assert_problem(400);
    let scheduled = s
        .post(
            &format!("/jobs/{jid}/visits"),
            office,
            &json!({"window_start": start, "window_end": end, "technician_id": tech.id}),
        )
        .await;
    assert_eq!(scheduled.status, 200, "{}", scheduled.body);
    assert_eq!(scheduled.body["status"], "scheduled");
    let vid = scheduled.body["visits"][0]["id"]
        .as_str()
        .expect("visit")
        .to_owned();

    // Assigned: the job, its customer, and their own list.
    assert_eq!(
        s.get(&format!("/jobs/{jid}"), &tech.access_token)
            .await
            .status,
        200
    );
    assert_eq!(
        s.get(&format!("/customers/{cid}"), &tech.access_token)
            .await
            .status,
        200
    );
    let mine = s.get("/jobs", &tech.access_token).await;
    assert_eq!(mine.body["items"][0]["id"], jid.as_str());
    s.get("/customers", &tech.access_token)
        .await
        .assert_problem(403);

    let progress = |status: &str, note: Option<&str>| json!({"status": status, "note": note});
    let path = format!("/jobs/{jid}/visits/{vid}/progress");
    let en_route = s
        .post(&path, &tech.access_token, &progress("en_route", None))
        .await;
    assert_eq!(en_route.status, 200, "{}", en_route.body);
    assert_eq!(en_route.body["status"], "in_progress");
    s.post(&path, &tech.access_token, &progress("planned", None))
        .await
        .assert_problem(409);
    assert_eq!(
        s.post(&path, &tech.access_token, &progress("on_site", None))
            .await
            .status,
        200
    );
    let done = s
        .post(
            &path,
            &tech.access_token,
            &progress("done", Some("Replaced contactor; system cooling")),
        )
        .await;
    assert_eq!(
        done.body["visits"][0]["notes"][0]["text"],
        "Replaced contactor; system cooling"
    );
    // Closing the job is the office's call.
    s.post(
        &format!("/jobs/{jid}/status"),
        &tech.access_token,
        &json!({"status": "completed"}),
    )
    .await
    .assert_problem(403);
    let completed = s
        .post(
            &format!("/jobs/{jid}/status"),
            office,
            &json!({"status": "completed"}),
        )
        .await;
    assert_eq!(completed.body["status"], "completed");
    s.post(
        &format!("/jobs/{jid}/status"),
        office,
        &json!({"status": "canceled", "reason": "late"}),
    )
    .await
    .assert_problem(409);

    let audit = s.audit(&t).await;
    assert!(audit
        .iter()
        .any(|r| r["action"] == "job.visit.progress" && r["actor_role"] == "technician"));
}

#[tokio::test]
async fn holds_and_cancellations_need_reasons_and_jobs_are_never_deleted() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let office = t.token(Role::Owner);
    let cid = customer(&s, &t).await;
    let job = s
        .post(
            "/jobs",
            office,
            &json!({"customer_id": cid, "title": "Water heater"}),
        )
        .await;
    let jid = job.body["id"].as_str().expect("id").to_owned();
    s.post(
        &format!("/jobs/{jid}/status"),
        office,
        &json!({"status": "on_hold"}),
    )
    .await
    .assert_problem(400);
    let held = s
        .post(
            &format!("/jobs/{jid}/status"),
            office,
            &json!({"status": "on_hold", "reason": "Waiting on parts"}),
        )
        .await;
    assert_eq!(
        (
            held.body["status"].clone(),
            held.body["status_reason"].clone()
        ),
        (json!("on_hold"), json!("Waiting on parts"))
    );
    let (start, end) = window();
    s.post(
        &format!("/jobs/{jid}/visits"),
        office,
        &json!({"window_start": start, "window_end": end}),
    )
    .await
    .assert_problem(409);
    let canceled = s
        .post(
            &format!("/jobs/{jid}/status"),
            office,
            &json!({"status": "canceled", "reason": "Customer moved"}),
        )
        .await;
    assert_eq!(canceled.body["status"], "canceled");
    assert_eq!(
        s.get(&format!("/jobs/{jid}"), office).await.body["status"],
        "canceled"
    );
    s.call("DELETE", &format!("/jobs/{jid}"), Some(office), None)
        .await
        .assert_problem(405);
}

#[tokio::test]
async fn job_routes_by_role() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let cid = customer(&s, &t).await;
    let job = s
        .post(
            "/jobs",
            t.token(Role::Owner),
            &json!({"customer_id": cid, "title": "Matrix"}),
        )
        .await;
    let jid = job.body["id"].as_str().expect("id").to_owned();
    let (start, end) = window();
    let visit = s
        .post(
            &format!("/jobs/{jid}/visits"),
            t.token(Role::Owner),
            &json!({"window_start": start, "window_end": end}),
        )
        .await;
    let vid = visit.body["visits"][0]["id"]
        .as_str()
        .expect("visit")
        .to_owned();
    use Role::*;
    let cases: Vec<RoleCase> = vec![
        (
            "POST",
            "/jobs".into(),
            Some(json!({"customer_id": cid, "title": "M"})),
            &[Owner, Admin, Dispatcher],
        ),
        (
            "GET",
            "/jobs".into(),
            None,
            &[Owner, Admin, Dispatcher, Technician, Accounting],
        ),
        (
            "GET",
            format!("/jobs/{jid}"),
            None,
            &[Owner, Admin, Dispatcher, Accounting],
        ),
        (
            "POST",
            format!("/jobs/{jid}/visits"),
            Some(json!({"window_start": start, "window_end": end})),
            &[Owner, Admin, Dispatcher],
        ),
        (
            "PATCH",
            format!("/jobs/{jid}/visits/{vid}"),
            Some(json!({"window_end": end})),
            &[Owner, Admin, Dispatcher],
        ),
        (
            "POST",
            format!("/jobs/{jid}/visits/{vid}/progress"),
            Some(json!({"status": "en_route"})),
            &[Owner, Admin, Dispatcher],
        ),
        (
            "POST",
            format!("/jobs/{jid}/status"),
            Some(json!({"status": "on_hold", "reason": "r"})),
            &[Owner, Admin, Dispatcher],
        ),
    ];
    assert_role_matrix(&s, &t, &cases).await;
}
