//! User management: invitations, role changes, disabling and enabling, by owners and admins
//! only, after a `user_management` step-up and a two-phase confirmation; a role change or a
//! disable refuses the user's existing tokens on their very next request.
use std::time::Duration;

use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use fieldvault_core::caller::Role;
use fieldvault_core::keys;
use fieldvault_core::mfa::code_at;
use fieldvault_core::store::{StoreError, TenantStore};
use fieldvault_system_tests::{
    assert_role_matrix, new_customer, Reply, Stack, TestTenant, TestUser, PASSWORD,
};
use serde_json::{json, Value};

use Role::*;

/// Enroll an authenticator and step up for user management in this sign-in.
async fn step_up(s: &Stack, user: &TestUser) {
    let (secret, used) = crate::mfa::enroll(s, user).await;
    let r = s
        .post(
            "/me/mfa/step-up",
            &user.access_token,
            &json!({"code": code_at(&secret, used + 1).expect("code"), "action_class": "user_management"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Prepare (202 with a summary), then confirm with the id.
async fn two_phase(s: &Stack, method: &str, path: &str, token: &str, body: Value) -> Reply {
    let prepared = s.call(method, path, Some(token), Some(&body)).await;
    assert_eq!(prepared.status, 202, "{method} {path}: {}", prepared.body);
    assert!(prepared.body["summary"].is_string());
    let mut confirmed = body;
    confirmed["confirmation_id"] = prepared.body["confirmation_id"].clone();
    s.call(method, path, Some(token), Some(&confirmed)).await
}

async fn try_sign_in(s: &Stack, username: &str) -> Option<String> {
    s.cognito
        .admin_initiate_auth()
        .user_pool_id(&s.pool_id)
        .client_id(&s.client_id)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", username)
        .auth_parameters("PASSWORD", PASSWORD)
        .send()
        .await
        .ok()
        .and_then(|o| o.authentication_result)
        .and_then(|r| r.access_token)
}

/// Sign-in times are whole seconds and a sign-in in the second of a revocation is refused:
/// a new sign-in waits for the next second.
async fn next_second() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

fn audit_has(audit: &[Value], action: &str, outcome: &str, resource: &str) -> bool {
    audit
        .iter()
        .any(|r| r["action"] == action && r["outcome"] == outcome && r["resource"] == resource)
}

fn new_email(t: &TestTenant) -> String {
    format!(
        "new-{}@{}.test",
        ulid::Ulid::new().to_string().to_lowercase(),
        t.id
    )
}

#[tokio::test]
async fn an_invited_user_signs_in_with_the_role() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.user(Owner);
    step_up(&s, owner).await;
    let email = new_email(&t);
    let invite =
        json!({"email": email.to_uppercase(), "name": "New Dispatcher", "role": "dispatcher"});
    let prepared = s.post("/users", &owner.access_token, &invite).await;
    assert_eq!(prepared.status, 202, "{}", prepared.body);
    assert!(prepared.body["summary"]
        .as_str()
        .is_some_and(|m| m.contains(&email) && m.contains("dispatcher")));
    let mut confirmed = invite.clone();
    confirmed["confirmation_id"] = prepared.body["confirmation_id"].clone();
    let key = ulid::Ulid::new().to_string();
    let send = || {
        s.http
            .post(format!("{}/users", s.api))
            .bearer_auth(&owner.access_token)
            .header("Idempotency-Key", &key)
            .json(&confirmed)
    };
    let created = s.send(send()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["email"], email.as_str());
    assert_eq!(created.body["role"], "dispatcher");
    assert_eq!(created.body["tenant_id"], t.id.as_str());
    let user_id = created.body["user_id"].as_str().expect("id").to_owned();
    let replay = s.send(send()).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.body["user_id"], user_id.as_str(), "invited once");

    // The invitation's temporary password is the user's to change; the test sets one as an
    // operator would.
    s.cognito
        .admin_set_user_password()
        .user_pool_id(&s.pool_id)
        .username(&email)
        .password(PASSWORD)
        .permanent(true)
        .send()
        .await
        .expect("password");
    let token = try_sign_in(&s, &email)
        .await
        .expect("the invited user signs in");
    let me = s.get("/me", &token).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["role"], "dispatcher");
    assert_eq!(me.body["user_id"], user_id.as_str());
    assert_eq!(me.body["tenant"]["tenant_id"], t.id.as_str());
    assert_eq!(s.get("/customers", &token).await.status, 200);
    assert_eq!(s.get("/audit", &token).await.status, 403);

    let users = s.get("/users?limit=100", &owner.access_token).await;
    assert!(users.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|u| u["email"] == email.as_str() && u["status"] == "active"));
    let audit = s.audit(&t).await;
    assert!(audit_has(
        &audit,
        "user.invite",
        "success",
        &format!("user/{user_id}")
    ));
    // An existing email is a conflict (and the refusal is recorded).
    let again = two_phase(&s, "POST", "/users", &owner.access_token, invite).await;
    again.assert_problem(409);
    assert!(audit_has(
        &s.audit(&t).await,
        "user.invite",
        "denied",
        "user/new"
    ));
}

#[tokio::test]
async fn a_role_change_refuses_the_old_token_on_its_next_request() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.user(Owner);
    let tech = t.user(Technician);
    assert_eq!(s.get("/me", &tech.access_token).await.status, 200);
    assert_eq!(s.get("/customers", &tech.access_token).await.status, 403);
    step_up(&s, owner).await;
    let changed = two_phase(
        &s,
        "PATCH",
        &format!("/users/{}/role", tech.id),
        &owner.access_token,
        json!({"role": "dispatcher"}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["role"], "dispatcher");

    // The very next request with the old token is refused, whatever the route.
    for path in ["/me", "/jobs", "/tasks"] {
        let old = s.get(path, &tech.access_token).await;
        old.assert_problem(401);
    }
    next_second().await;
    let token = try_sign_in(&s, &tech.email).await.expect("signs in again");
    let me = s.get("/me", &token).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["role"], "dispatcher");
    assert_eq!(s.get("/customers", &token).await.status, 200);
    s.get("/me", &tech.access_token).await.assert_problem(401);

    let audit = s.audit(&t).await;
    let resource = format!("user/{}", tech.id);
    assert!(audit_has(&audit, "user.role_change", "success", &resource));
    assert!(
        audit_has(&audit, "auth.session_refused", "denied", &resource),
        "the refused token is recorded"
    );
}

#[tokio::test]
async fn a_disabled_user_is_refused_at_once_and_cannot_sign_in_until_enabled() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let admin = t.user(Admin);
    let accounting = t.user(Accounting);
    step_up(&s, admin).await;
    let path = format!("/users/{}/disable", accounting.id);
    let disabled = two_phase(&s, "POST", &path, &admin.access_token, json!({})).await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    assert_eq!(disabled.body["status"], "disabled");
    s.get("/me", &accounting.access_token)
        .await
        .assert_problem(401);
    assert!(
        try_sign_in(&s, &accounting.email).await.is_none(),
        "a disabled user cannot sign in"
    );
    let users = s.get("/users?limit=100", &admin.access_token).await;
    assert!(users.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|u| u["user_id"] == accounting.id.as_str() && u["status"] == "disabled"));

    let enabled = two_phase(
        &s,
        "POST",
        &format!("/users/{}/enable", accounting.id),
        &admin.access_token,
        json!({}),
    )
    .await;
    assert_eq!(enabled.status, 200, "{}", enabled.body);
    assert_eq!(enabled.body["status"], "active");
    next_second().await;
    let token = try_sign_in(&s, &accounting.email)
        .await
        .expect("enabled users sign in");
    assert_eq!(s.get("/me", &token).await.status, 200);
    // Enabling does not bring back the sign-in the disable ended.
    s.get("/me", &accounting.access_token)
        .await
        .assert_problem(401);

    let audit = s.audit(&t).await;
    let resource = format!("user/{}", accounting.id);
    assert!(audit_has(&audit, "user.disable", "success", &resource));
    assert!(audit_has(&audit, "user.enable", "success", &resource));
}

#[tokio::test]
async fn user_management_needs_a_fresh_step_up() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.user(Owner);
    let admin = t.user(Admin);
    let tech = t.user(Technician);
    let role_path = format!("/users/{}/role", tech.id);
    let change = json!({"role": "dispatcher"});

    let missing = s.patch(&role_path, &admin.access_token, &change).await;
    missing.assert_problem(401);
    assert_eq!(missing.body["step_up"], "user_management");
    let invite = s
        .post(
            "/users",
            &admin.access_token,
            &json!({"email": new_email(&t), "name": "X", "role": "technician"}),
        )
        .await;
    invite.assert_problem(401);
    assert_eq!(invite.body["step_up"], "user_management");
    let disable = s
        .post(
            &format!("/users/{}/disable", tech.id),
            &admin.access_token,
            &json!({}),
        )
        .await;
    disable.assert_problem(401);

    // A proof for another class does not count.
    let (secret, used) = crate::mfa::enroll(&s, admin).await;
    let billing = s
        .post("/me/mfa/step-up", &admin.access_token, &json!({"code": code_at(&secret, used + 1).expect("code"), "action_class": "billing_corrections"}))
        .await;
    assert_eq!(billing.status, 200, "{}", billing.body);
    let other_class = s.patch(&role_path, &admin.access_token, &change).await;
    other_class.assert_problem(401);
    assert_eq!(other_class.body["step_up"], "user_management");

    // A proof belongs to its sign-in: a new sign-in of the same user has none.
    step_up(&s, owner).await;
    assert_eq!(
        s.patch(&role_path, &owner.access_token, &change)
            .await
            .status,
        202
    );
    let (fresh, _) = s.sign_in(&s.pool_id, &s.client_id, &owner.email).await;
    let stale = s.patch(&role_path, &fresh, &change).await;
    stale.assert_problem(401);
    assert_eq!(stale.body["step_up"], "user_management");

    // The technician was never changed, and every refusal is recorded.
    assert_eq!(
        s.get("/me", &tech.access_token).await.body["role"],
        "technician"
    );
    let audit = s.audit(&t).await;
    let resource = format!("user/{}", tech.id);
    assert!(audit.iter().any(|r| r["action"] == "user.role_change"
        && r["outcome"] == "denied"
        && r["resource"] == resource.as_str()
        && r["reason"].as_str().is_some_and(|m| m.contains("step-up"))));
    assert!(audit_has(&audit, "user.invite", "denied", "user/new"));
    assert!(audit_has(&audit, "user.disable", "denied", &resource));
}

#[tokio::test]
async fn admins_cannot_touch_owners_and_nobody_changes_themselves() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let (owner, admin, tech) = (t.user(Owner), t.user(Admin), t.user(Technician));
    step_up(&s, owner).await;
    step_up(&s, admin).await;
    let a = &admin.access_token;
    let o = &owner.access_token;
    let refusals: Vec<(&str, String, &str, Value)> = vec![
        // Admins: not an owner, not to owner, not inviting an owner, not themselves.
        (
            "PATCH",
            format!("/users/{}/role", owner.id),
            a,
            json!({"role": "dispatcher"}),
        ),
        ("POST", format!("/users/{}/disable", owner.id), a, json!({})),
        ("POST", format!("/users/{}/enable", owner.id), a, json!({})),
        (
            "PATCH",
            format!("/users/{}/role", tech.id),
            a,
            json!({"role": "owner"}),
        ),
        (
            "POST",
            "/users".into(),
            a,
            json!({"email": new_email(&t), "name": "Boss", "role": "owner"}),
        ),
        ("POST", format!("/users/{}/disable", admin.id), a, json!({})),
        (
            "PATCH",
            format!("/users/{}/role", admin.id),
            a,
            json!({"role": "dispatcher"}),
        ),
        // Owners: never themselves.
        ("POST", format!("/users/{}/disable", owner.id), o, json!({})),
        (
            "PATCH",
            format!("/users/{}/role", owner.id),
            o,
            json!({"role": "admin"}),
        ),
    ];
    for (method, path, token, body) in &refusals {
        let r = s.call(method, path, Some(token), Some(body)).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        r.assert_problem(403);
    }
    // Owner-only powers are an owner's: prepare succeeds (nothing changes without confirming).
    for (method, path, body) in [
        (
            "PATCH",
            format!("/users/{}/role", tech.id),
            json!({"role": "owner"}),
        ),
        ("POST", format!("/users/{}/disable", admin.id), json!({})),
    ] {
        let r = s.call(method, &path, Some(o), Some(&body)).await;
        assert_eq!(r.status, 202, "{method} {path}: {}", r.body);
    }
    assert_eq!(s.get("/me", a).await.status, 200);
    assert_eq!(s.get("/me", o).await.status, 200);
    let audit = s.audit(&t).await;
    assert!(audit_has(
        &audit,
        "user.role_change",
        "denied",
        &format!("user/{}", owner.id)
    ));
    assert!(audit_has(
        &audit,
        "user.disable",
        "denied",
        &format!("user/{}", admin.id)
    ));
    assert!(audit_has(&audit, "user.invite", "denied", "user/new"));
}

#[tokio::test]
async fn another_tenants_users_are_not_found() {
    let s = Stack::connect().await;
    let a = s.tenant().await;
    let b = s.tenant().await;
    let owner = a.user(Owner);
    step_up(&s, owner).await;
    let theirs = b.user(Technician);
    let forged_confirmation = json!({"role": "owner", "confirmation_id": "x.y"});
    for (method, path, body) in [
        (
            "PATCH",
            format!("/users/{}/role", theirs.id),
            json!({"role": "dispatcher"}),
        ),
        (
            "PATCH",
            format!("/users/{}/role", theirs.id),
            forged_confirmation,
        ),
        ("POST", format!("/users/{}/disable", theirs.id), json!({})),
        ("POST", format!("/users/{}/enable", theirs.id), json!({})),
        ("POST", format!("/users/{}/mfa/reset", theirs.id), json!({})),
        ("POST", "/users/not%23a%23user/disable".into(), json!({})),
    ] {
        let r = s
            .call(method, &path, Some(&owner.access_token), Some(&body))
            .await;
        r.assert_problem(404);
    }
    let me = s.get("/me", &theirs.access_token).await;
    assert_eq!(me.status, 200, "their user is untouched: {}", me.body);
    assert_eq!(me.body["role"], "technician");
    let audit = s.audit(&a).await;
    assert!(
        audit_has(
            &audit,
            "user.role_change",
            "denied",
            &format!("user/{}", theirs.id)
        ),
        "the attempt is recorded in the caller's tenant"
    );
    assert!(s
        .audit(&b)
        .await
        .iter()
        .all(|r| !r["action"].as_str().is_some_and(|x| x.starts_with("user."))));
}

#[tokio::test]
async fn user_routes_by_role() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    step_up(&s, t.user(Owner)).await;
    step_up(&s, t.user(Admin)).await;
    let target = &t.user(Technician).id;
    let managers: &[Role] = &[Owner, Admin];
    // Without a confirmation id the allowed roles only prepare (202): nothing changes, so every
    // role's token stays valid for the whole matrix.
    let cases = vec![
        (
            "POST",
            "/users".to_owned(),
            Some(json!({"email": new_email(&t), "name": "Matrix", "role": "technician"})),
            managers,
        ),
        (
            "PATCH",
            format!("/users/{target}/role"),
            Some(json!({"role": "dispatcher"})),
            managers,
        ),
        (
            "POST",
            format!("/users/{target}/disable"),
            Some(json!({})),
            managers,
        ),
        (
            "POST",
            format!("/users/{target}/enable"),
            Some(json!({})),
            managers,
        ),
    ];
    assert_role_matrix(&s, &t, &cases).await;
    let audit = s.audit(&t).await;
    for (role, action) in [
        ("dispatcher", "user.invite"),
        ("technician", "user.role_change"),
        ("accounting", "user.disable"),
        ("dispatcher", "user.enable"),
    ] {
        assert!(
            audit.iter().any(|r| r["actor_role"] == role
                && r["action"] == action
                && r["outcome"] == "denied"),
            "{role} {action}"
        );
    }
}

#[tokio::test]
async fn access_records_are_read_by_their_own_user_and_written_by_owners_and_admins_only() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let settings = s.settings();
    let sessions = s.sessions();
    let mine = keys::user_access(&t.id, &t.user(Technician).id);
    let theirs = keys::user_access(&t.id, &t.user(Dispatcher).id);
    for role in [Dispatcher, Technician, Accounting] {
        let me = &t.user(role).id;
        let session = sessions.session(&t.id, role, me).await.expect("session");
        let own = keys::user_access(&t.id, me);
        let read = session.store().get(&own).await.expect("own record");
        assert!(read.is_some(), "onboarding writes the access record");
        let other = if role == Dispatcher { &mine } else { &theirs };
        assert!(
            matches!(
                session.store().get(other).await,
                Err(StoreError::AccessDenied(_))
            ),
            "{role} reads another user's access record"
        );
        // Not even its own record may it write.
        let mut item = std::collections::HashMap::from([
            ("pk".to_owned(), AttributeValue::S(own.pk.clone())),
            ("sk".to_owned(), AttributeValue::S(own.sk.clone())),
        ]);
        item.insert("role".into(), AttributeValue::S("owner".into()));
        let write = session
            .dynamodb()
            .put_item()
            .table_name(&settings.data_table)
            .set_item(Some(item))
            .send()
            .await;
        assert_eq!(
            write
                .err()
                .and_then(|e| e.code().map(str::to_owned))
                .as_deref(),
            Some("AccessDeniedException"),
            "{role} writes its own access record"
        );
    }
    for role in [Owner, Admin] {
        let session = sessions
            .session(&t.id, role, &t.user(role).id)
            .await
            .expect("session");
        assert!(session.store().get(&mine).await.expect("read").is_some());
    }
    // The record is unchanged: the technician still works with its own role.
    assert_eq!(
        s.get("/me", t.token(Technician)).await.body["role"],
        "technician"
    );
}

/// The names of the tenant's customers, as the owner lists them.
async fn customer_names(s: &Stack, t: &TestTenant) -> Vec<String> {
    let list = s.get("/customers?limit=100", t.token(Owner)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect()
}

/// Writes carry the access check inside their own transaction (a DynamoDB ConditionCheck on
/// the user's access record), so a revoked token's write is refused by DynamoDB itself: a
/// 401, nothing written, no success record. Covers each way a record stops admitting a token
/// (role changed, disabled, signed out by a disable and re-enable) and that a fresh sign-in
/// passes the same check.
#[tokio::test]
async fn a_revoked_token_writes_nothing() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.user(Owner);
    let dispatcher = t.user(Dispatcher);
    let admin = t.user(Admin);
    let made = s
        .post(
            "/customers",
            &dispatcher.access_token,
            &new_customer("Before Change"),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    step_up(&s, owner).await;

    // Role changed: the token still says dispatcher, which may create customers.
    let changed = two_phase(
        &s,
        "PATCH",
        &format!("/users/{}/role", dispatcher.id),
        &owner.access_token,
        json!({"role": "technician"}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    s.post(
        "/customers",
        &dispatcher.access_token,
        &new_customer("After Role Change"),
    )
    .await
    .assert_problem(401);
    s.post(
        "/intake",
        &dispatcher.access_token,
        &json!({"source": "call", "contact": {"name": "Intake After Role Change", "phone": "(555) 201-0999"}}),
    )
    .await
    .assert_problem(401);

    // Disabled, then enabled again: the old sign-in stays revoked.
    let disable = format!("/users/{}/disable", admin.id);
    let disabled = two_phase(&s, "POST", &disable, &owner.access_token, json!({})).await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    s.post(
        "/customers",
        &admin.access_token,
        &new_customer("While Disabled"),
    )
    .await
    .assert_problem(401);
    let enable = format!("/users/{}/enable", admin.id);
    let enabled = two_phase(&s, "POST", &enable, &owner.access_token, json!({})).await;
    assert_eq!(enabled.status, 200, "{}", enabled.body);
    s.post(
        "/customers",
        &admin.access_token,
        &new_customer("Old Sign-In"),
    )
    .await
    .assert_problem(401);

    // A new sign-in (after the revocation's second) is admitted by the same check.
    next_second().await;
    let token = try_sign_in(&s, &admin.email).await.expect("signs in again");
    let fresh = s
        .post("/customers", &token, &new_customer("New Sign-In"))
        .await;
    assert_eq!(fresh.status, 201, "{}", fresh.body);

    let mut names = customer_names(&s, &t).await;
    names.sort();
    assert_eq!(
        names,
        ["Before Change", "New Sign-In"],
        "no refused write landed"
    );
    let audit = s.audit(&t).await;
    let created_by = |user: &TestUser| {
        audit
            .iter()
            .filter(|r| r["action"] == "customer.create" && r["actor_user"] == user.id.as_str())
            .count()
    };
    assert_eq!(
        created_by(dispatcher),
        1,
        "only the write before the change"
    );
    assert_eq!(created_by(admin), 1, "only the new sign-in's write");
    for user in [dispatcher, admin] {
        assert!(
            audit_has(
                &audit,
                "auth.session_refused",
                "denied",
                &format!("user/{}", user.id)
            ),
            "the refusal of {} is recorded",
            user.role
        );
    }
}

/// Admission costs no DynamoDB round trip of its own: an admitted write is exactly one
/// TransactWriteItems (change, access check and audit), and a read's access record is read
/// alongside its data (counted by the SDK interceptor the benchmark uses).
#[tokio::test]
async fn admission_adds_no_write_call_and_reads_alongside() {
    use std::sync::Arc;

    use fieldvault_aws::metrics::DynamoMetrics;
    use fieldvault_aws::App;
    use fieldvault_system_tests::{body_json, lambda_event};

    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.user(Owner);
    let metrics = Arc::new(DynamoMetrics::default());
    let app = App::with_sessions(s.sessions().with_metrics(metrics.clone())).expect("app");
    let app: &'static App = Box::leak(Box::new(app));

    let created = fv_create_customer::handle(
        app,
        lambda_event("POST", "/customers", owner, &t, &new_customer("Counted")),
    )
    .await;
    assert_eq!(created.status().as_u16(), 201, "{}", body_json(&created));
    let (calls, _) = metrics.take();
    assert_eq!(
        calls.into_iter().collect::<Vec<_>>(),
        [("TransactWriteItems".to_owned(), 1)]
    );

    let listed = fv_list_customers::handle(
        app,
        lambda_event("GET", "/customers", owner, &t, &Value::Null),
    )
    .await;
    assert_eq!(listed.status().as_u16(), 200, "{}", body_json(&listed));
    let (calls, _) = metrics.take();
    assert_eq!(
        calls.into_iter().collect::<Vec<_>>(),
        [("GetItem".to_owned(), 1), ("Query".to_owned(), 1)]
    );

    // A refused token's read gets no data (the dispatcher, disabled through the API).
    let dispatcher = t.user(Dispatcher);
    step_up(&s, owner).await;
    let disable = format!("/users/{}/disable", dispatcher.id);
    let disabled = two_phase(&s, "POST", &disable, &owner.access_token, json!({})).await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    let refused = fv_list_customers::handle(
        app,
        lambda_event("GET", "/customers", dispatcher, &t, &Value::Null),
    )
    .await;
    assert_eq!(refused.status().as_u16(), 401, "{}", body_json(&refused));
    assert!(body_json(&refused).get("items").is_none(), "no data");
}
