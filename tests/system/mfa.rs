//! MFA step-up: TOTP enrolled through the API (secret KMS-encrypted under the tenant's
//! context), single-use codes, lockout, and proofs bound to the sign-in and action class that
//! gate voiding an invoice. Enrollment is not trust-on-first-use: a first authenticator needs
//! a fresh sign-in, replacing one needs a step-up with it, and an owner/admin reset is itself
//! behind a step-up; the app client cannot write `email`.
use fieldvault_core::caller::Role;
use fieldvault_core::keys;
use fieldvault_core::mfa::{code_at, step_of, totp_context};
use fieldvault_core::sealed::{FieldCipher, SealError, SealedField};
use fieldvault_system_tests::{assert_role_matrix, new_customer, Stack, TestTenant, TestUser};
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
    // Enrollment cannot be replaced to get around the lock: a locked enrollment is not
    // replaced, and the step-up a replacement needs is locked too.
    let replace = s
        .call("POST", "/me/mfa/totp", Some(&admin.access_token), None)
        .await;
    replace.assert_problem(401);
    assert!(replace.body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("15 minutes")));
    s.post(
        "/me/mfa/step-up",
        &admin.access_token,
        &json!({"code": good, "action_class": "mfa_enrollment"}),
    )
    .await
    .assert_problem(401);
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

/// A genuine-looking access token of `role` (signed with the pool's key, as Cognito would)
/// whose sign-in (`auth_time`) was `ago` seconds before now, or that has no `auth_time`; its
/// `iat` is now, as a token refreshed from an old sign-in has.
fn token_signed_in(s: &Stack, t: &TestTenant, role: Role, ago: Option<i64>) -> String {
    let mut claims = crate::tokens::claims(s, t, role);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match ago {
        Some(ago) => claims["auth_time"] = json!(now - ago),
        None => {
            claims.as_object_mut().expect("claims").remove("auth_time");
        }
    }
    crate::tokens::sign(&claims, "moto-signing-key.pem")
}

/// The next code of `secret` after step `last` that the API accepts now (waiting, at most one
/// 30-second step, until it is within the ±1 step window).
async fn next_code(secret: &[u8], last: i64) -> (String, i64) {
    loop {
        let current = step_of(time::OffsetDateTime::now_utc());
        if current >= last {
            let step = (last + 1).max(current);
            return (code_at(secret, step).expect("code"), step);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

async fn stored_enrollment(s: &Stack, t: &TestTenant, user: &TestUser) -> Option<Value> {
    use fieldvault_core::store::TenantStore;
    let sessions = s.sessions();
    let session = sessions
        .session(&t.id, Role::Owner, &t.user(Role::Owner).id)
        .await
        .expect("session");
    session
        .store()
        .get(&keys::mfa(&t.id, &user.id))
        .await
        .expect("read")
        .map(Value::Object)
}

fn records<'a>(audit: &'a [Value], action: &str, outcome: &str, resource: &str) -> Vec<&'a Value> {
    audit
        .iter()
        .filter(|r| r["action"] == action && r["outcome"] == outcome && r["resource"] == resource)
        .collect()
}

#[tokio::test]
async fn a_token_from_an_old_sign_in_cannot_enroll_a_first_authenticator() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.user(Role::Owner);
    let resource = format!("user/{}", owner.id);

    // Stolen from a sign-in of 10 minutes ago (refreshed, so issued just now): refused, and
    // nothing is stored.
    let old = token_signed_in(&s, &t, Role::Owner, Some(600));
    let refused = s.call("POST", "/me/mfa/totp", Some(&old), None).await;
    refused.assert_problem(401);
    assert!(refused.body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("sign-in from the last 5 minutes")));
    assert!(stored_enrollment(&s, &t, owner).await.is_none());
    // A token without `auth_time` is not judged by its `iat`.
    let no_auth_time = token_signed_in(&s, &t, Role::Owner, None);
    s.call("POST", "/me/mfa/totp", Some(&no_auth_time), None)
        .await
        .assert_problem(401);
    // Six minutes: still too old.
    let six = token_signed_in(&s, &t, Role::Owner, Some(360));
    s.call("POST", "/me/mfa/totp", Some(&six), None)
        .await
        .assert_problem(401);
    assert!(stored_enrollment(&s, &t, owner).await.is_none());

    // The same user, a sign-in of 2 minutes ago: enrolls. A pending (unconfirmed) enrollment
    // is still a first one: the old token cannot replace it either.
    let recent = token_signed_in(&s, &t, Role::Owner, Some(120));
    let started = s.call("POST", "/me/mfa/totp", Some(&recent), None).await;
    assert_eq!(started.status, 201, "{}", started.body);
    let pending = stored_enrollment(&s, &t, owner).await.expect("pending");
    s.call("POST", "/me/mfa/totp", Some(&old), None)
        .await
        .assert_problem(401);
    assert_eq!(
        stored_enrollment(&s, &t, owner).await.expect("pending"),
        pending,
        "the pending enrollment is untouched"
    );
    // With no confirmed authenticator, the old token reaches no step-up either.
    s.post(
        "/me/mfa/step-up",
        &old,
        &json!({"code": "123456", "action_class": "user_management"}),
    )
    .await
    .assert_problem(409);

    let audit = s.audit(&t).await;
    let denied = records(&audit, "mfa.enroll", "denied", &resource);
    assert!(denied.len() >= 4, "every refusal is audited: {denied:?}");
    assert!(denied.iter().all(|r| r["reason"]
        .as_str()
        .is_some_and(|m| m.contains("5 minutes"))));
    assert_eq!(records(&audit, "mfa.enroll", "success", &resource).len(), 1);
}

#[tokio::test]
async fn replacing_an_authenticator_needs_a_step_up_with_the_old_one() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let tech = t.user(Role::Technician);
    let resource = format!("user/{}", tech.id);
    let (old, used) = enroll(&s, tech).await;
    let confirmed = stored_enrollment(&s, &t, tech).await.expect("enrollment");

    // A fresh sign-in is not enough once an authenticator is confirmed.
    let refused = s
        .call("POST", "/me/mfa/totp", Some(&tech.access_token), None)
        .await;
    refused.assert_problem(401);
    assert_eq!(refused.body["step_up"], "mfa_enrollment");
    let (fresh, _) = s.sign_in(&s.pool_id, &s.client_id, &tech.email).await;
    let refused = s.call("POST", "/me/mfa/totp", Some(&fresh), None).await;
    refused.assert_problem(401);
    assert_eq!(refused.body["step_up"], "mfa_enrollment");
    // Nor is a proof for another class.
    let billing = s
        .post("/me/mfa/step-up", &tech.access_token, &json!({"code": code_at(&old, used + 1).expect("code"), "action_class": "billing_corrections"}))
        .await;
    assert_eq!(billing.status, 200, "{}", billing.body);
    s.call("POST", "/me/mfa/totp", Some(&tech.access_token), None)
        .await
        .assert_problem(401);
    assert_eq!(
        stored_enrollment(&s, &t, tech).await.expect("enrollment")["secret"],
        confirmed["secret"],
        "the confirmed authenticator is untouched"
    );

    // A step-up with the old authenticator for mfa_enrollment: the replacement starts.
    let (code, _) = next_code(&old, used + 1).await;
    let stepped = s
        .post(
            "/me/mfa/step-up",
            &tech.access_token,
            &json!({"code": code, "action_class": "mfa_enrollment"}),
        )
        .await;
    assert_eq!(stepped.status, 200, "{}", stepped.body);
    let replaced = s
        .call("POST", "/me/mfa/totp", Some(&tech.access_token), None)
        .await;
    assert_eq!(replaced.status, 201, "{}", replaced.body);
    let new = fieldvault_system_tests::base32_decode(
        replaced.body["secret_base32"].as_str().expect("secret"),
    );
    assert_ne!(new, old);
    let now = step_of(time::OffsetDateTime::now_utc());
    let ok = s
        .post(
            "/me/mfa/totp/confirm",
            &tech.access_token,
            &json!({"code": code_at(&new, now).expect("code")}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    // The proof was spent on that replacement.
    let again = s
        .call("POST", "/me/mfa/totp", Some(&tech.access_token), None)
        .await;
    again.assert_problem(401);
    assert_eq!(again.body["step_up"], "mfa_enrollment");
    // The old authenticator no longer steps up; the new one does.
    s.post("/me/mfa/step-up", &tech.access_token, &json!({"code": code_at(&old, now + 1).expect("code"), "action_class": "billing_corrections"}))
        .await
        .assert_problem(401);
    let with_new = s
        .post("/me/mfa/step-up", &tech.access_token, &json!({"code": code_at(&new, now + 1).expect("code"), "action_class": "billing_corrections"}))
        .await;
    assert_eq!(with_new.status, 200, "{}", with_new.body);

    let audit = s.audit(&t).await;
    assert!(
        records(&audit, "mfa.enroll", "denied", &resource).len() >= 3,
        "refused replacements are audited"
    );
    // The first enrollment and the replacement.
    assert_eq!(records(&audit, "mfa.enroll", "success", &resource).len(), 2);
}

#[tokio::test]
async fn an_admin_reset_needs_a_step_up_is_audited_and_the_user_enrolls_afresh() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let (owner, admin, tech) = (
        t.user(Role::Owner),
        t.user(Role::Admin),
        t.user(Role::Technician),
    );
    let resource = format!("user/{}", tech.id);
    let path = format!("/users/{}/mfa/reset", tech.id);
    enroll(&s, tech).await;

    // No user_management step-up: refused and audited.
    let missing = s.post(&path, &admin.access_token, &json!({})).await;
    missing.assert_problem(401);
    assert_eq!(missing.body["step_up"], "user_management");

    s.step_up(admin, "user_management").await;
    s.step_up(owner, "user_management").await;
    // Owners and admins only; only owners reset owners; nobody resets themselves.
    let managers: &[Role] = &[Role::Owner, Role::Admin];
    assert_role_matrix(&s, &t, &[("POST", path.clone(), Some(json!({})), managers)]).await;
    for (target, token) in [
        (owner, &admin.access_token),
        (admin, &admin.access_token),
        (owner, &owner.access_token),
    ] {
        s.post(
            &format!("/users/{}/mfa/reset", target.id),
            token,
            &json!({}),
        )
        .await
        .assert_problem(403);
    }

    // Two phases: prepare changes nothing; confirming removes the authenticator.
    let prepared = s.post(&path, &admin.access_token, &json!({})).await;
    assert_eq!(prepared.status, 202, "{}", prepared.body);
    assert!(prepared.body["summary"]
        .as_str()
        .is_some_and(|m| m.contains(&tech.email)));
    assert!(stored_enrollment(&s, &t, tech).await.is_some());
    let confirm = json!({"confirmation_id": prepared.body["confirmation_id"]});
    let done = s.post(&path, &admin.access_token, &confirm).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["enrolled"], false);
    assert_eq!(done.body["user_id"], tech.id.as_str());
    assert!(stored_enrollment(&s, &t, tech).await.is_none());
    s.post(&path, &admin.access_token, &confirm)
        .await
        .assert_problem(409);
    s.post(
        "/me/mfa/step-up",
        &tech.access_token,
        &json!({"code": "123456", "action_class": "billing_corrections"}),
    )
    .await
    .assert_problem(409);

    // Enrolling afresh is a first enrollment: not from an old sign-in, yes from a new one.
    let old = token_signed_in(&s, &t, Role::Technician, Some(600));
    s.call("POST", "/me/mfa/totp", Some(&old), None)
        .await
        .assert_problem(401);
    let (fresh, _) = s.sign_in(&s.pool_id, &s.client_id, &tech.email).await;
    let fresh_user = TestUser {
        role: Role::Technician,
        email: tech.email.clone(),
        id: tech.id.clone(),
        access_token: fresh,
        id_token: String::new(),
    };
    let (secret, used) = enroll(&s, &fresh_user).await;
    let stepped = s
        .post("/me/mfa/step-up", &fresh_user.access_token, &json!({"code": code_at(&secret, used + 1).expect("code"), "action_class": "billing_corrections"}))
        .await;
    assert_eq!(stepped.status, 200, "{}", stepped.body);

    let audit = s.audit(&t).await;
    let done = records(&audit, "user.mfa_reset", "success", &resource);
    assert_eq!(done.len(), 1, "one reset");
    assert_eq!(done[0]["actor_user"], admin.id.as_str());
    assert!(records(&audit, "user.mfa_reset", "denied", &resource)
        .iter()
        .any(|r| r["reason"].as_str().is_some_and(|m| m.contains("step-up"))));
    assert!(!records(
        &audit,
        "user.mfa_reset",
        "denied",
        &format!("user/{}", owner.id)
    )
    .is_empty());
    assert!(audit.iter().any(|r| r["action"] == "user.mfa_reset"
        && r["outcome"] == "denied"
        && r["actor_role"] == "dispatcher"));
}

#[tokio::test]
async fn owners_and_admins_reach_no_gated_action_before_enrolling() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let invoice = issued_invoice(&s, &t).await;
    let today = time::OffsetDateTime::now_utc().date();
    let tech = t.user(Role::Technician);
    for role in [Role::Owner, Role::Admin] {
        let token = t.token(role);
        for class in [
            "billing_corrections",
            "user_management",
            "accounting_exports",
            "hr_records",
            "mfa_enrollment",
        ] {
            let r = s
                .post(
                    "/me/mfa/step-up",
                    token,
                    &json!({"code": "123456", "action_class": class}),
                )
                .await;
            r.assert_problem(409);
            assert!(r.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("no authenticator is enrolled")));
        }
        let mut gated = vec![
            (
                "POST",
                "/users".to_owned(),
                Some(
                    json!({"email": format!("x-{role}@{}.test", t.id), "name": "X", "role": "technician"}),
                ),
                "user_management",
            ),
            (
                "POST",
                format!("/users/{}/disable", tech.id),
                Some(json!({})),
                "user_management",
            ),
            (
                "POST",
                format!("/users/{}/mfa/reset", tech.id),
                Some(json!({})),
                "user_management",
            ),
            (
                "POST",
                format!("/invoices/{invoice}/void"),
                Some(json!({"reason": "Wrong customer"})),
                "billing_corrections",
            ),
            (
                "GET",
                format!("/accounting/export?from={today}&to={today}"),
                None,
                "accounting_exports",
            ),
        ];
        if role == Role::Owner {
            gated.push(("GET", format!("/users/{}/hr", tech.id), None, "hr_records"));
        }
        for (method, path, body, class) in gated {
            let r = s.call(method, &path, Some(token), body.as_ref()).await;
            r.assert_problem(401);
            assert_eq!(r.body["step_up"], class, "{role} {method} {path}");
        }
    }
}

#[tokio::test]
async fn invited_owners_and_admins_are_told_to_enroll_first() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.user(Role::Owner);
    s.step_up(owner, "user_management").await;
    for (role, told) in [("admin", true), ("owner", true), ("dispatcher", false)] {
        let email = format!(
            "{role}-{}@{}.test",
            ulid::Ulid::new().to_string().to_lowercase(),
            t.id
        );
        let invite = json!({"email": email, "name": "New", "role": role});
        let prepared = s.post("/users", &owner.access_token, &invite).await;
        assert_eq!(prepared.status, 202, "{}", prepared.body);
        assert_eq!(
            prepared.body["summary"]
                .as_str()
                .is_some_and(|m| m.contains("must enroll an authenticator")),
            told,
            "{role}: {}",
            prepared.body
        );
        let mut confirmed = invite.clone();
        confirmed["confirmation_id"] = prepared.body["confirmation_id"].clone();
        let created = s.post("/users", &owner.access_token, &confirmed).await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.body["role"], role);
        assert_eq!(created.body["mfa_required"], told, "{role}");
        assert_eq!(
            created.body["mfa_notice"]
                .as_str()
                .is_some_and(|m| m.contains("POST /me/mfa/totp")),
            told,
            "{role}"
        );
    }
}

#[tokio::test]
async fn the_app_client_is_given_no_write_access_to_email() {
    let s = Stack::connect().await;
    // moto does not enforce an app client's write attributes (UpdateUserAttributes with an
    // access token is accepted whatever they say), so this holds the provisioned client, which
    // is created from template.yaml, to what Cognito enforces in AWS.
    let client = s
        .cognito
        .describe_user_pool_client()
        .user_pool_id(&s.pool_id)
        .client_id(&s.client_id)
        .send()
        .await
        .expect("describe the app client")
        .user_pool_client
        .expect("client");
    let writable = client.write_attributes().to_vec();
    // Cognito reads an empty list as "every standard attribute is writable".
    assert!(!writable.is_empty(), "an explicit, non-empty list");
    for sensitive in [
        "email",
        "email_verified",
        "phone_number",
        "phone_number_verified",
        "custom:tenant_id",
    ] {
        assert!(
            !writable.iter().any(|a| a == sensitive),
            "{sensitive} is writable: {writable:?}"
        );
    }
    let template = fieldvault_core::template::Template::embedded().expect("template");
    let (_, declared) = template
        .resources_of_type("AWS::Cognito::UserPoolClient")
        .next()
        .expect("app client");
    let declared: Vec<String> = declared["Properties"]["WriteAttributes"]
        .as_array()
        .expect("WriteAttributes declared")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        writable, declared,
        "provisioned exactly as the template says"
    );
}
