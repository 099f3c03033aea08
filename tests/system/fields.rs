//! Sensitive fields: KMS envelope encryption with the tenant in the encryption context, and
//! employee HR records (owners only, audited before they are read, last fours only).
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use fieldvault_aws::App;
use fieldvault_core::caller::Role;
use fieldvault_core::hr::{bank_context, tax_id_context, HrRecord};
use fieldvault_core::ids::{AuditId, IdSource};
use fieldvault_core::keys;
use fieldvault_core::sealed::{FieldCipher, SealError};
use fieldvault_core::store::TenantStore;
use fieldvault_system_tests::{assert_role_matrix, body_json, Stack, TestTenant, TestUser};
use serde_json::{json, Value};
use std::collections::HashMap;

// Not a substring of anything else stored (moto's account id is 123456789012).
const TAX_ID: &str = "987-65-4321";
const ACCOUNT: &str = "0001234567";

fn hr_body() -> Value {
    json!({
        "legal_name": "Terry Tech",
        "tax_id": TAX_ID,
        "bank_routing_number": "011000015",
        "bank_account_number": ACCOUNT,
    })
}

/// No full identifier in this text, in any of the usual spellings.
fn assert_no_identifiers(text: &str, what: &str) {
    for full in [TAX_ID, "987654321", ACCOUNT, "011000015"] {
        assert!(!text.contains(full), "{what} carries {full}: {text}");
    }
}

fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.into())),
        ("sk".to_owned(), AttributeValue::S(sk.into())),
    ])
}

fn hr_path(t: &TestTenant, role: Role) -> String {
    format!("/users/{}/hr", t.user(role).id)
}

/// A tenant whose owner stepped up for HR records and filed the technician's record.
async fn with_hr_record(s: &Stack) -> TestTenant {
    let t = s.tenant().await;
    s.step_up(t.user(Role::Owner), "hr_records").await;
    let put = s
        .call(
            "PUT",
            &hr_path(&t, Role::Technician),
            Some(t.token(Role::Owner)),
            Some(&hr_body()),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    t
}

#[tokio::test]
async fn hr_records_are_sealed_at_rest_and_answered_with_last_fours_only() {
    let s = Stack::connect().await;
    let a = with_hr_record(&s).await;
    let b = s.tenant().await;
    let owner = a.token(Role::Owner);
    let tech = &a.user(Role::Technician).id;

    let got = s.get(&hr_path(&a, Role::Technician), owner).await;
    assert_eq!(got.status, 200, "{}", got.body);
    got.assert_security_headers();
    assert_eq!(got.body["tax_id_last4"], "4321");
    assert_eq!(got.body["bank_account_last4"], "4567");
    assert_eq!(got.body["legal_name"], "Terry Tech");
    assert_no_identifiers(&got.body.to_string(), "the answer");

    // The stored item, read raw from DynamoDB (no tenant session, no guard): sealed fields.
    let raw = aws_sdk_dynamodb::Client::new(&s.sdk);
    let k = keys::hr_record(&a.id, tech);
    let item = raw
        .get_item()
        .table_name(&s.settings().data_table)
        .set_key(Some(key(&k.pk, &k.sk)))
        .consistent_read(true)
        .send()
        .await
        .expect("raw read")
        .item
        .expect("the record is stored");
    assert_no_identifiers(&format!("{item:?}"), "the stored item");
    let tax = item["tax_id"].as_m().expect("a sealed field is a map");
    for part in ["v", "alg", "key_id", "purpose", "edk", "nonce", "ct"] {
        assert!(tax.contains_key(part), "sealed field lacks {part}");
    }
    assert_eq!(
        tax["alg"].as_s().ok().map(String::as_str),
        Some("AES-256-GCM")
    );
    assert_eq!(
        tax["purpose"].as_s().ok().map(String::as_str),
        Some("hr.tax_id")
    );
    let ct = base64::engine::general_purpose::STANDARD
        .decode(tax["ct"].as_s().expect("ct"))
        .expect("base64");
    assert!(!String::from_utf8_lossy(&ct).contains("4321"));

    // The owner's session opens it under the tenant's context.
    let sessions = s.sessions();
    let owner_a = sessions
        .session(&a.id, Role::Owner, &a.user(Role::Owner).id)
        .await
        .expect("session");
    let record: HrRecord = serde_json::from_value(Value::Object(
        owner_a
            .store()
            .get(&k)
            .await
            .expect("read")
            .expect("record"),
    ))
    .expect("parses");
    let home = tax_id_context(&a.id, tech).expect("context");
    let opened = owner_a
        .fields()
        .open(&home, &record.tax_id)
        .await
        .expect("own tenant opens");
    assert_eq!(opened, b"987654321");
    let bank = owner_a
        .fields()
        .open(&bank_context(&a.id, tech).expect("context"), &record.bank)
        .await
        .expect("bank details open");
    assert!(String::from_utf8_lossy(&bank).contains(ACCOUNT));
    // Sealed for one purpose, opened as another: refused.
    assert!(owner_a
        .fields()
        .open(&bank_context(&a.id, tech).expect("context"), &record.tax_id)
        .await
        .is_err());

    // Tenant B's owner: under B's own context KMS (moto checks the context on Decrypt)
    // refuses the data key; naming A's context, the guard refuses the call (IAM in AWS).
    let owner_b = sessions
        .session(&b.id, Role::Owner, &b.user(Role::Owner).id)
        .await
        .expect("session");
    let under_b = owner_b
        .fields()
        .open(
            &tax_id_context(&b.id, tech).expect("context"),
            &record.tax_id,
        )
        .await;
    assert!(
        matches!(&under_b, Err(SealError::DataKey(m)) if m.contains("InvalidCiphertext")),
        "{under_b:?}"
    );
    let under_a = owner_b.fields().open(&home, &record.tax_id).await;
    assert!(
        matches!(&under_a, Err(SealError::DataKey(m)) if m.contains("AccessDenied")),
        "{under_a:?}"
    );
    let sealed_for_a = owner_b.fields().seal(&home, b"planted").await;
    assert!(
        matches!(&sealed_for_a, Err(SealError::DataKey(m)) if m.contains("AccessDenied")),
        "no data key under another tenant's context: {sealed_for_a:?}"
    );

    // Audited: the write and the read, with no identifier in the trail.
    let audit = s.audit(&a).await;
    assert!(audit
        .iter()
        .any(|r| r["action"] == "hr.write" && r["outcome"] == "success"));
    assert!(audit.iter().any(|r| r["action"] == "hr.read"
        && r["outcome"] == "success"
        && r["resource"] == format!("hr/{tech}")));
    assert_no_identifiers(&Value::Array(audit).to_string(), "the audit trail");
}

#[tokio::test]
async fn hr_routes_are_for_owners_only_after_a_step_up() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let path = hr_path(&t, Role::Dispatcher);
    // Without a step-up even the owner is refused, with the hint.
    let needed = s
        .call("PUT", &path, Some(t.token(Role::Owner)), Some(&hr_body()))
        .await;
    needed.assert_problem(401);
    assert_eq!(needed.body["step_up"], "hr_records");
    s.get(&path, t.token(Role::Owner)).await.assert_problem(401);

    s.step_up(t.user(Role::Owner), "hr_records").await;
    // Admins and everyone else: 403, stepped up or not (an admin steps up too).
    s.step_up(t.user(Role::Admin), "hr_records").await;
    assert_role_matrix(
        &s,
        &t,
        &[
            ("PUT", path.clone(), Some(hr_body()), &[Role::Owner]),
            ("GET", path.clone(), None, &[Role::Owner]),
        ],
    )
    .await;
    // Another tenant's owner, stepped up, reaches nothing of ours (404), and ours is unchanged.
    let other = s.tenant().await;
    s.step_up(other.user(Role::Owner), "hr_records").await;
    s.get(&path, other.token(Role::Owner))
        .await
        .assert_problem(404);
    s.call(
        "PUT",
        &path,
        Some(other.token(Role::Owner)),
        Some(&hr_body()),
    )
    .await
    .assert_problem(404);
    let ours = s.get(&path, t.token(Role::Owner)).await;
    assert_eq!(ours.body["version"], 1, "{}", ours.body);
    // A user that does not exist: 404; bad identifiers: 400 with the field named.
    s.call(
        "PUT",
        "/users/nobody-here/hr",
        Some(t.token(Role::Owner)),
        Some(&hr_body()),
    )
    .await
    .assert_problem(404);
    let mut bad = hr_body();
    bad["tax_id"] = json!("12");
    let refused = s
        .call("PUT", &path, Some(t.token(Role::Owner)), Some(&bad))
        .await;
    refused.assert_problem(400);
    assert_no_identifiers(&refused.body.to_string(), "a 400");
    // Every refusal is recorded.
    let audit = s.audit(&t).await;
    for role in ["admin", "dispatcher", "technician", "accounting"] {
        assert!(
            audit.iter().any(|r| r["actor_role"] == role
                && r["action"] == "hr.read"
                && r["outcome"] == "denied"),
            "{role}"
        );
    }
}

/// Hands out one id again and again, so the test knows the access record's key in advance.
struct FixedIds(ulid::Ulid);

impl IdSource for FixedIds {
    fn ulid(&self) -> ulid::Ulid {
        self.0
    }
}

/// The `origin_jti` of an access token (the sign-in a step-up proof is bound to).
fn origin_jti(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("claims");
    claims["origin_jti"]
        .as_str()
        .expect("origin_jti")
        .to_owned()
}

fn get_event(path: &str, user: &TestUser, t: &TestTenant) -> lambda_http::Request {
    let event = json!({
        "version": "2.0",
        "routeKey": "GET /users/{id}/hr",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"user-agent": "system-tests"},
        "pathParameters": {"id": path.split('/').nth(2).expect("id")},
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "localhost", "domainPrefix": "local",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "system-tests"},
            "requestId": ulid::Ulid::new().to_string(), "routeKey": "GET /users/{id}/hr", "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000", "timeEpoch": 0,
            "authorizer": {"jwt": {"claims": {
                "sub": user.id.to_string(),
                "token_use": "access",
                "username": user.email,
                "origin_jti": origin_jti(&user.access_token),
                "cognito:groups": format!("[tenant:{} {}]", t.id, user.role),
            }, "scopes": null}}
        },
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}

#[tokio::test]
async fn reading_an_hr_record_is_audited_before_the_read() {
    let s = Stack::connect().await;
    let t = with_hr_record(&s).await;
    let owner = t.user(Role::Owner);
    let path = hr_path(&t, Role::Technician);
    let fixed = ulid::Ulid::new();
    let session = s
        .sessions()
        .session(&t.id, Role::Owner, &owner.id)
        .await
        .expect("session");
    // Occupy the audit slot the read's access record is about to use.
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
    let app: &'static App = Box::leak(Box::new(app));
    let resp = fv_get_hr_record::handle(app, get_event(&path, owner, &t)).await;
    let body = body_json(&resp);
    assert_eq!(resp.status().as_u16(), 503, "{body}");
    assert!(body.get("tax_id_last4").is_none() && body.get("legal_name").is_none());
    assert!(
        !body.to_string().contains("Terry"),
        "no data without the record"
    );

    // Control: with fresh ids the same request is answered, so the refusal was the audit's.
    let normal: &'static App = Box::leak(Box::new(
        App::new(s.sdk.clone(), s.settings()).expect("app"),
    ));
    let ok = fv_get_hr_record::handle(normal, get_event(&path, owner, &t)).await;
    assert_eq!(ok.status().as_u16(), 200, "{}", body_json(&ok));
    assert_eq!(body_json(&ok)["tax_id_last4"], "4321");
}

fn code<E: ProvideErrorMetadata>(r: Result<impl std::fmt::Debug, E>) -> Option<String> {
    r.err().and_then(|e| e.code().map(str::to_owned))
}

#[tokio::test]
async fn hr_records_are_refused_to_every_non_owner_session_by_the_guard() {
    let s = Stack::connect().await;
    let t = with_hr_record(&s).await;
    let settings = s.settings();
    let sessions = s.sessions();
    let tech = &t.user(Role::Technician).id;
    let k = keys::hr_record(&t.id, tech);
    for role in Role::ALL {
        let session = sessions
            .session(&t.id, role, &t.user(role).id)
            .await
            .expect("session");
        let ddb = session.dynamodb();
        let read = ddb
            .get_item()
            .table_name(&settings.data_table)
            .set_key(Some(key(&k.pk, &k.sk)))
            .send()
            .await;
        let query = ddb
            .query()
            .table_name(&settings.data_table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(k.pk.clone()))
            .send()
            .await;
        let mut item = key(&k.pk, &k.sk);
        item.insert("legal_name".into(), AttributeValue::S("Overwritten".into()));
        item.insert("tenant_id".into(), AttributeValue::S(t.id.to_string()));
        // A condition that never holds: the owner's control call changes nothing.
        let write = ddb
            .put_item()
            .table_name(&settings.data_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        let delete = ddb
            .delete_item()
            .table_name(&settings.data_table)
            .set_key(Some(key(&k.pk, &k.sk)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        let seal = session
            .fields()
            .seal(&tax_id_context(&t.id, tech).expect("context"), b"999999999")
            .await;
        let denied = role != Role::Owner;
        for (what, got) in [
            ("GetItem", code(read)),
            ("Query", code(query)),
            ("PutItem", code(write)),
            ("DeleteItem", code(delete)),
        ] {
            assert_eq!(
                got.as_deref() == Some("AccessDeniedException"),
                denied,
                "{what} as {role}: {got:?}"
            );
        }
        assert_eq!(
            matches!(&seal, Err(SealError::DataKey(m)) if m.contains("AccessDenied")),
            denied,
            "an HR data key as {role}: {seal:?}"
        );
    }
    // The record is intact (the owner's control write failed only on its condition).
    let intact = s
        .get(&hr_path(&t, Role::Technician), t.token(Role::Owner))
        .await;
    assert_eq!(intact.body["legal_name"], "Terry Tech", "{}", intact.body);
}
