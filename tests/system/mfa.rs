//! MFA step-up: TOTP enrolled through the API (secret KMS-encrypted under the tenant's
//! context), single-use codes, lockout, and proofs bound to the sign-in and action class that
//! gate voiding an invoice.
use fieldvault_core::caller::Role;
use fieldvault_core::keys;
use fieldvault_core::mfa::{code_at, totp_context};
use fieldvault_core::sealed::{FieldCipher, SealError, SealedField};
use fieldvault_system_tests::{new_customer, Stack, TestTenant, TestUser};
use serde_json::{json, Value};

/// Enroll and confirm; returns the secret and the step the confirmation consumed.
pub(crate) async fn enroll(s: &Stack, user: &TestUser) -> (Vec<u8>, i64) {
    s.enroll_totp(user).await
}

async fn issued_invoice(s: &Stack, t: &TestTenant) -> String {
    let c = s
        .post(
            "/customers",
            t.token(Role::Owner),
            &new_customer("Void Customer"),
        )
        .await;
    let inv = s
        .post("/invoices", t.token(Role::Owner), &json!({"customer_id": c.body["id"], "lines": [{"description": "Call-out", "quantity": "1", "unit_price_minor": 9900}]}))
        .await;
    let id = inv.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        s.call(
            "POST",
            &format!("/invoices/{id}/issue"),
            Some(t.token(Role::Owner)),
            None
        )
        .await
        .status,
        200
    );
    id
}

#[tokio::test]
async fn voiding_an_invoice_needs_a_fresh_step_up_bound_to_the_sign_in() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let accounting = t.user(Role::Accounting);
    let id = issued_invoice(&s, &t).await;
    let void = json!({"reason": "Billed the wrong customer"});

    let needed = s
        .post(
            &format!("/invoices/{id}/void"),
            &accounting.access_token,
            &void,
        )
        .await;
    needed.assert_problem(401);
    assert_eq!(needed.body["step_up"], "billing_corrections");

    // Step-up needs a confirmed authenticator.
    let early = s
        .post(
            "/me/mfa/step-up",
            &accounting.access_token,
            &json!({"code": "123456", "action_class": "billing_corrections"}),
        )
        .await;
    early.assert_problem(409);
    let (secret, used) = enroll(&s, accounting).await;
    // The code that confirmed enrollment cannot be used again.
    let reused = s
        .post("/me/mfa/step-up", &accounting.access_token, &json!({"code": code_at(&secret, used).expect("code"), "action_class": "billing_corrections"}))
        .await;
    reused.assert_problem(401);
    let stepped = s
        .post("/me/mfa/step-up", &accounting.access_token, &json!({"code": code_at(&secret, used + 1).expect("code"), "action_class": "billing_corrections"}))
        .await;
    assert_eq!(stepped.status, 200, "{}", stepped.body);
    assert_eq!(stepped.body["action_class"], "billing_corrections");

    // Two phases: prepare answers a summary and a confirmation bound to this exact request.
    let prepared = s
        .post(
            &format!("/invoices/{id}/void"),
            &accounting.access_token,
            &void,
        )
        .await;
    assert_eq!(prepared.status, 202, "{}", prepared.body);
    assert!(prepared.body["summary"]
        .as_str()
        .is_some_and(|m| m.contains("Void invoice #1") && m.contains("99.00")));
    let confirmation = prepared.body["confirmation_id"].clone();
    let changed = s
        .post(
            &format!("/invoices/{id}/void"),
            &accounting.access_token,
            &json!({"reason": "Something else", "confirmation_id": confirmation}),
        )
        .await;
    changed.assert_problem(409);
    let voided = s
        .post(
            &format!("/invoices/{id}/void"),
            &accounting.access_token,
            &json!({"reason": "Billed the wrong customer", "confirmation_id": confirmation}),
        )
        .await;
    assert_eq!(voided.status, 200, "{}", voided.body);
    assert_eq!(voided.body["status"], "void");
    assert_eq!(voided.body["number"], 1, "the number stays, never reused");
    assert_eq!(voided.body["balance_minor"], 0);

    // A new sign-in of the same user does not inherit the proof.
    let other = issued_invoice(&s, &t).await;
    let (fresh_token, _) = s.sign_in(&s.pool_id, &s.client_id, &accounting.email).await;
    s.post(&format!("/invoices/{other}/void"), &fresh_token, &void)
        .await
        .assert_problem(401);
    let again = s
        .post(
            &format!("/invoices/{other}/void"),
            &accounting.access_token,
            &void,
        )
        .await;
    assert_eq!(
        again.status, 202,
        "the first sign-in still may: {}",
        again.body
    );
    let mut confirmed = void.clone();
    confirmed["confirmation_id"] = again.body["confirmation_id"].clone();
    assert_eq!(
        s.post(
            &format!("/invoices/{other}/void"),
            &accounting.access_token,
            &confirmed
        )
        .await
        .status,
        200
    );

    let audit = s.audit(&t).await;
    let step_ups: Vec<&Value> = audit
        .iter()
        .filter(|r| r["action"] == "mfa.step_up")
        .collect();
    assert!(step_ups.iter().any(|r| r["outcome"] == "success"));
    assert!(
        step_ups.iter().any(|r| r["outcome"] == "denied"),
        "failed attempts are audited"
    );
    assert!(audit.iter().any(|r| r["action"] == "invoice.void"));
}

#[tokio::test]
async fn five_wrong_codes_lock_step_up() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let admin = t.user(Role::Admin);
    let (secret, used) = enroll(&s, admin).await;
    for _ in 0..5 {
        s.post(
            "/me/mfa/step-up",
            &admin.access_token,
            &json!({"code": "000000", "action_class": "billing_corrections"}),
        )
        .await
        .assert_problem(401);
    }
    let good = code_at(&secret, used + 1).expect("code");
    let locked = s
        .post(
            "/me/mfa/step-up",
            &admin.access_token,
            &json!({"code": good, "action_class": "billing_corrections"}),
        )
        .await;
    locked.assert_problem(401);
    assert!(locked.body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("15 minutes")));
    // Enrollment cannot be replaced to get around the lock.
    s.call("POST", "/me/mfa/totp", Some(&admin.access_token), None)
        .await
        .assert_problem(409);
}

#[tokio::test]
async fn the_totp_secret_is_kms_encrypted_under_the_tenants_context() {
    let s = Stack::connect().await;
    let a = s.tenant().await;
    let b = s.tenant().await;
    let user = a.user(Role::Owner);
    let (secret, _) = enroll(&s, user).await;
    let sessions = s.sessions();
    let session_a = sessions
        .session(&a.id, Role::Owner, &user.id)
        .await
        .expect("session");
    use fieldvault_core::store::TenantStore;
    let stored = session_a
        .store()
        .get(&keys::mfa(&a.id, &user.id))
        .await
        .expect("read")
        .expect("enrollment");
    let sealed: SealedField = serde_json::from_value(Value::Object(
        stored["secret"].as_object().expect("sealed").clone(),
    ))
    .expect("the secret is a sealed field");
    assert_eq!(sealed.v, 1);
    assert_eq!(sealed.alg, "AES-256-GCM");
    assert_eq!(sealed.purpose, "totp");
    let raw = serde_json::to_string(&stored).expect("json");
    assert!(
        !raw.contains(&fieldvault_core::mfa::base32(&secret)),
        "never stored in the clear"
    );
    let own = totp_context(&a.id, &user.id).expect("context");
    assert_eq!(
        session_a
            .fields()
            .open(&own, &sealed)
            .await
            .expect("own tenant decrypts"),
        secret
    );
    // Tenant B's session cannot decrypt it: under its own tenant's context KMS refuses the
    // data key; naming tenant A's context, the guard (IAM in AWS) refuses the call.
    let session_b = sessions
        .session(&b.id, Role::Owner, &b.user(Role::Owner).id)
        .await
        .expect("session");
    let theirs = totp_context(&b.id, &user.id).expect("context");
    assert!(session_b.fields().open(&theirs, &sealed).await.is_err());
    let refused = session_b.fields().open(&own, &sealed).await;
    assert!(
        matches!(&refused, Err(SealError::DataKey(m)) if m.contains("AccessDenied")),
        "{refused:?}"
    );
}
