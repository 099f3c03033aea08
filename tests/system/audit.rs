//! Audit is fail-closed: a change whose audit record cannot be written does not happen.
use fieldvault_aws::App;
use fieldvault_core::caller::Role;
use fieldvault_core::ids::{AuditId, CustomerId, IdSource};
use fieldvault_core::keys;
use fieldvault_core::store::TenantStore;
use fieldvault_system_tests::{body_json, lambda_event, new_customer, Stack};

/// Hands out one id again and again, so the test knows the audit record's key in advance.
struct FixedIds(ulid::Ulid);

impl IdSource for FixedIds {
    fn ulid(&self) -> ulid::Ulid {
        self.0
    }
}

fn leak(app: App) -> &'static App {
    Box::leak(Box::new(app))
}

#[tokio::test]
async fn a_change_whose_audit_record_cannot_be_written_does_not_happen() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.user(Role::Owner);
    let fixed = ulid::Ulid::new();
    let session = s
        .sessions()
        .session(&t.id, Role::Owner, &owner.id)
        .await
        .expect("session");

    // Occupy the audit slot the handler is about to use.
    let blocker = fieldvault_core::audit::AuditRecord {
        id: AuditId::new(fixed),
        tenant_id: t.id.to_string(),
        at: time::OffsetDateTime::now_utc(),
        actor_user: owner.id.to_string(),
        actor_role: "owner".into(),
        actor_name: "blocker".into(),
        action: "test.block".into(),
        resource: "test".into(),
        request_id: "blocker".into(),
        source_ip: String::new(),
        user_agent: String::new(),
        outcome: fieldvault_core::audit::Outcome::Success,
        reason: None,
        changes: vec![],
    };
    session
        .store()
        .append_audit(&blocker)
        .await
        .expect("blocker written");

    let mut app = App::new(s.sdk.clone(), s.settings()).expect("app");
    app.ids = Box::new(FixedIds(fixed));
    let app = leak(app);
    let resp = fv_create_customer::handle(
        app,
        lambda_event("POST", "/customers", owner, &t, &new_customer("Ghost")),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 503, "{}", body_json(&resp));
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert!(resp.headers().get("strict-transport-security").is_some());

    // Neither the customer nor its contact lookup exists.
    let customer = session
        .store()
        .get(&keys::customer(&t.id, &CustomerId::new(fixed)))
        .await
        .expect("read");
    assert!(
        customer.is_none(),
        "the customer was written without its audit record"
    );
    let listed = s.get("/customers", t.token(Role::Owner)).await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(0));

    // Control: with fresh ids the same request goes through, so the refusal was the audit's.
    let normal = leak(App::new(s.sdk.clone(), s.settings()).expect("app"));
    let ok = fv_create_customer::handle(
        normal,
        lambda_event("POST", "/customers", owner, &t, &new_customer("Real")),
    )
    .await;
    assert_eq!(ok.status().as_u16(), 201, "{}", body_json(&ok));
}

#[tokio::test]
async fn a_change_is_refused_when_the_audit_trail_is_not_writable() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.user(Role::Owner);
    let mut settings = s.settings();
    // A sink the tenant role may not write: the data layer refuses the whole transaction.
    settings.audit_table = format!("{}-elsewhere", settings.audit_table);
    let app = leak(App::new(s.sdk.clone(), settings).expect("app"));
    let resp = fv_create_customer::handle(
        app,
        lambda_event("POST", "/customers", owner, &t, &new_customer("Ghost")),
    )
    .await;
    assert!(
        resp.status().is_client_error() || resp.status().is_server_error(),
        "refused"
    );
    let listed = s.get("/customers", t.token(Role::Owner)).await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(0),
        "nothing written"
    );
}

#[tokio::test]
async fn each_sign_in_is_recorded_once() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let dispatcher = t.user(Role::Dispatcher);
    for _ in 0..3 {
        assert_eq!(s.get("/me", &dispatcher.access_token).await.status, 200);
    }
    let (second_sign_in, _) = s.sign_in(&s.pool_id, &s.client_id, &dispatcher.email).await;
    assert_eq!(s.get("/me", &second_sign_in).await.status, 200);
    let sign_ins = s
        .audit(&t)
        .await
        .into_iter()
        .filter(|r| r["action"] == "auth.sign_in" && r["actor_user"] == dispatcher.id.as_str())
        .count();
    assert_eq!(sign_ins, 2, "one record per sign-in, not per request");
}
