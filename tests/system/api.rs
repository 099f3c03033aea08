//! The first domain end to end: intake, customers, paging, and what bad input gets.
use fieldvault_core::caller::Role;
use fieldvault_system_tests::{new_customer, Stack};
use serde_json::json;

#[tokio::test]
async fn customer_lifecycle_with_audit_before_and_after() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let token = t.token(Role::Dispatcher);
    let created = s
        .post("/customers", token, &new_customer("Avery Quinn"))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.assert_security_headers();
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(created.body["tenant_id"], t.id.as_str());
    assert_eq!(created.body["version"], 1);
    assert_eq!(
        created.body["service_locations"][0]["address"]["country"],
        "US"
    );

    let got = s.get(&format!("/customers/{id}"), token).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["name"], "Avery Quinn");

    let patched = s
        .patch(
            &format!("/customers/{id}"),
            token,
            &json!({"name": "Avery Q. Quinn", "notes": "Dog in yard", "version": 1}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["version"], 2);
    let stale = s
        .patch(
            &format!("/customers/{id}"),
            token,
            &json!({"name": "Lost update", "version": 1}),
        )
        .await;
    stale.assert_problem(409);
    assert_eq!(
        s.get(&format!("/customers/{id}"), token).await.body["name"],
        "Avery Q. Quinn"
    );

    let audit = s.audit(&t).await;
    let update = audit
        .iter()
        .find(|r| r["action"] == "customer.update" && r["resource"] == format!("customer/{id}"))
        .expect("update audited");
    assert_eq!(update["actor_role"], "dispatcher");
    assert_eq!(update["outcome"], "success");
    assert!(update["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(update["source_ip"], "127.0.0.1");
    let name_change = update["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["path"] == "/name")
        .expect("name diff");
    assert_eq!(name_change["before"], "Avery Quinn");
    assert_eq!(name_change["after"], "Avery Q. Quinn");
    assert!(audit
        .iter()
        .any(|r| r["action"] == "customer.create" && r["resource"] == format!("customer/{id}")));
}

#[tokio::test]
async fn intake_creates_lead_customer_and_follow_up_and_matches_repeat_callers() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let token = t.token(Role::Dispatcher);
    let first = s
        .post(
            "/intake",
            token,
            &json!({"source": "call", "contact": {"name": "Sam Lee", "phone": "(555) 201-0001", "sms_consent": true}, "notes": "Furnace clicking"}),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["matched_existing_customer"], false);
    assert_eq!(first.body["lead"]["source"], "call");
    assert_eq!(first.body["follow_up"]["kind"], "follow_up_lead");
    assert_eq!(
        first.body["customer"]["contact_points"][0]["sms_consent"],
        true
    );
    let customer_id = first.body["customer"]["id"].clone();

    let by_phone = s
        .post("/intake", token, &json!({"source": "form", "contact": {"name": "Sam", "phone": "+1 555 201 0001", "email": "sam@example.com"}}))
        .await;
    assert_eq!(by_phone.status, 201);
    assert_eq!(by_phone.body["matched_existing_customer"], true);
    assert_eq!(by_phone.body["customer"]["id"], customer_id);

    let campaign = s
        .post("/intake", token, &json!({"source": "campaign", "campaign": "spring-tuneup", "contact": {"name": "Jo", "email": "jo@example.com"}}))
        .await;
    assert_eq!(campaign.status, 201);
    assert_eq!(campaign.body["lead"]["campaign"], "spring-tuneup");

    let missing_campaign = s
        .post(
            "/intake",
            token,
            &json!({"source": "campaign", "contact": {"name": "Jo", "email": "jo2@example.com"}}),
        )
        .await;
    missing_campaign.assert_problem(400);
    let intakes = s
        .audit(&t)
        .await
        .into_iter()
        .filter(|r| r["action"] == "intake.create")
        .count();
    assert_eq!(
        intakes, 3,
        "one audit record per intake, none for the refused one"
    );
}

#[tokio::test]
async fn lists_page_with_opaque_cursors_bound_to_the_tenant() {
    let s = Stack::connect().await;
    let a = s.tenant().await;
    let b = s.tenant().await;
    for name in ["Alpha", "Bravo", "Charlie"] {
        assert_eq!(
            s.post("/customers", a.token(Role::Owner), &new_customer(name))
                .await
                .status,
            201
        );
    }
    let first = s.get("/customers?limit=2", a.token(Role::Accounting)).await;
    assert_eq!(first.status, 200);
    let names: Vec<&str> = first.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, vec!["Alpha", "Bravo"]);
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    assert!(!cursor.contains("T#"), "cursors are opaque");
    let second = s
        .get(
            &format!("/customers?limit=2&cursor={cursor}"),
            a.token(Role::Accounting),
        )
        .await;
    assert_eq!(second.body["items"][0]["name"], "Charlie");
    assert!(second.body["next_cursor"].is_null());

    // Tenant A's cursor means nothing to tenant B, and a tampered cursor is refused.
    s.get(&format!("/customers?cursor={cursor}"), b.token(Role::Owner))
        .await
        .assert_problem(400);
    let tampered = format!("{}x", cursor);
    s.get(
        &format!("/customers?cursor={tampered}"),
        a.token(Role::Owner),
    )
    .await
    .assert_problem(400);
    s.get("/customers?limit=0", a.token(Role::Owner))
        .await
        .assert_problem(400);
    s.get("/customers?limit=abc", a.token(Role::Owner))
        .await
        .assert_problem(400);
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_and_writes_nothing() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let token = t.token(Role::Owner);
    let audit_before = s.audit(&t).await.len();

    let unknown_field = s
        .post(
            "/customers",
            token,
            &json!({"name": "Eve", "tenant_id": "someone-else"}),
        )
        .await;
    unknown_field.assert_problem(400);
    assert!(unknown_field.body["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("tenant_id")));

    let invalid = s
        .post(
            "/customers",
            token,
            &json!({"name": "", "contact_points": [{"kind": "phone", "value": "call me maybe"}]}),
        )
        .await;
    invalid.assert_problem(400);
    let fields: Vec<&str> = invalid.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"name") && fields.contains(&"contact_points[0].value"),
        "{fields:?}"
    );

    let not_json = s
        .send(
            s.http
                .post(format!("{}/customers", s.api))
                .bearer_auth(token)
                .header("content-type", "text/plain")
                .body("name=Eve"),
        )
        .await;
    not_json.assert_problem(415);
    let malformed = s
        .send(
            s.http
                .post(format!("{}/customers", s.api))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body("{\"name\":"),
        )
        .await;
    malformed.assert_problem(400);
    let huge = json!({"name": "Big", "notes": "x".repeat(70 * 1024)});
    s.post("/customers", token, &huge).await.assert_problem(413);
    let bad_kind = s
        .post(
            "/intake",
            token,
            &json!({"source": "telepathy", "contact": {"name": "X", "phone": "5550000000"}}),
        )
        .await;
    bad_kind.assert_problem(400);
    let card = s
        .post(
            "/customers",
            token,
            &json!({"name": "Card Holder", "notes": "pays with 4242 4242 4242 4242"}),
        )
        .await;
    card.assert_problem(400);
    // Refused before the handler reads the body, so the field is the body itself.
    assert_eq!(card.body["errors"][0]["field"], "body");
    let card_in_intake = s
        .post("/intake", token, &json!({"source": "call", "contact": {"name": "X", "phone": "5550000001"}, "notes": "card 5555-5555-5555-4444"}))
        .await;
    card_in_intake.assert_problem(400);
    let bad_id = s.get("/customers/not-an-id", token).await;
    bad_id.assert_problem(404);

    let list = s.get("/customers", token).await;
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(0),
        "nothing was written"
    );
    assert_eq!(
        s.audit(&t).await.len(),
        audit_before,
        "refused input leaves no write and no audit entry"
    );
}

#[tokio::test]
async fn a_tenant_id_in_the_query_header_or_body_is_never_used() {
    let s = Stack::connect().await;
    let mine = s.tenant().await;
    let other = s.tenant().await;
    let req = s
        .http
        .post(format!("{}/customers?tenant_id={}", s.api, other.id))
        .bearer_auth(mine.token(Role::Owner))
        .header("x-tenant-id", other.id.as_str())
        .json(&new_customer("Header Games"));
    let created = s.send(req).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["tenant_id"], mine.id.as_str());
    let theirs = s.get("/customers", other.token(Role::Owner)).await;
    assert_eq!(theirs.body["items"].as_array().map(Vec::len), Some(0));
}
