//! Payments through the sandbox provider: checkout, the signed webhook (signature, tolerance,
//! rotation, replay, dedupe), allocation to the invoice, refunds that never exceed the capture
//! under concurrency, staff-recorded payments, credit notes and deposit invoices, each
//! MFA-gated money action, and the roles that may reach them. Every shop is its own account at
//! the provider: another shop's payment can be neither recorded nor refunded, and a
//! confirmation of a money action is used once.
use fieldvault_aws::payments::ACCOUNT_HEADER;
use fieldvault_core::caller::Role;
use fieldvault_core::keys;
use fieldvault_core::webhook::{sign, SIGNATURE_HEADER};
use fieldvault_system_tests::{new_customer, Reply, Stack, TestTenant};
use serde_json::{json, Value};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run infra/local/test.sh"))
}

fn secrets() -> Vec<String> {
    env("FV_PAYMENTS_WEBHOOK_SECRETS")
        .split(',')
        .map(str::to_owned)
        .collect()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A customer and an issued invoice of `amount` for them: (customer id, invoice id).
async fn issued_invoice(s: &Stack, t: &TestTenant, amount: i64) -> (String, String) {
    let owner = t.token(Role::Owner);
    let c = s
        .post("/customers", owner, &new_customer("Pay Customer"))
        .await;
    let cid = c.body["id"].as_str().expect("customer").to_owned();
    let inv = s
        .post("/invoices", owner, &json!({"customer_id": cid, "lines": [{"description": "Repair", "quantity": "1", "unit_price_minor": amount}]}))
        .await;
    let id = inv.body["id"].as_str().expect("invoice").to_owned();
    let issued = s
        .call("POST", &format!("/invoices/{id}/issue"), Some(owner), None)
        .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    (cid, id)
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Open the invoice's checkout and pay it with `card` on the sandbox's page.
async fn pay_by_checkout(s: &Stack, t: &TestTenant, invoice: &str, card: &str) -> u16 {
    let started = s
        .call(
            "POST",
            &format!("/invoices/{invoice}/checkout"),
            Some(t.token(Role::Accounting)),
            None,
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.body);
    let url = started.body["checkout"]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let page = browser().get(&url).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("card_number"));
    browser()
        .post(&url)
        .form(&[("name", "Pat Doe"), ("card_number", card)])
        .send()
        .await
        .expect("pay")
        .status()
        .as_u16()
}

/// Every webhook delivery the sandbox made, newest last.
async fn deliveries() -> Vec<Value> {
    let r = browser()
        .get(format!("{}/v1/events", env("FV_PAYMENTS_API_URL")))
        .bearer_auth(env("FV_PAYMENTS_API_KEY"))
        .send()
        .await
        .expect("events");
    let body: Value = r.json().await.expect("json");
    body["data"].as_array().cloned().unwrap_or_default()
}

async fn delivery_for(invoice: &str) -> Value {
    deliveries()
        .await
        .into_iter()
        .rev()
        .find(|d| d["body"].as_str().is_some_and(|b| b.contains(invoice)))
        .expect("a delivery for the invoice")
}

async fn post_webhook(s: &Stack, body: &str, signature: Option<&str>) -> Reply {
    let mut req = s
        .http
        .post(format!("{}/webhooks/payments", s.api))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(sig) = signature {
        req = req.header(SIGNATURE_HEADER, sig);
    }
    s.send(req).await
}

/// The tenant's account at the sandbox provider.
fn account_of(t: &TestTenant) -> String {
    t.payment_account
        .as_ref()
        .expect("the tenant has a provider account")
        .to_string()
}

/// A call to the sandbox provider's API on `t`'s account: (status, body).
async fn at_provider(
    method: &str,
    t: &TestTenant,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = browser()
        .request(method, format!("{}{path}", env("FV_PAYMENTS_API_URL")))
        .bearer_auth(env("FV_PAYMENTS_API_KEY"))
        .header(ACCOUNT_HEADER, account_of(t));
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.expect("provider");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn invoice(s: &Stack, t: &TestTenant, id: &str) -> Value {
    s.get(&format!("/invoices/{id}"), t.token(Role::Accounting))
        .await
        .body
}

async fn payment_of(s: &Stack, t: &TestTenant, customer: &str) -> Value {
    let timeline = s
        .get(
            &format!("/customers/{customer}/timeline"),
            t.token(Role::Accounting),
        )
        .await;
    timeline.body["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "payment"))
        .map(|e| e["record"].clone())
        .expect("a payment on the timeline")
}

#[tokio::test]
async fn a_checkout_payment_arrives_by_signed_webhook_once_and_pays_the_invoice() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let (cid, id) = issued_invoice(&s, &t, 12_900).await;
    assert_eq!(
        pay_by_checkout(&s, &t, &id, "4242 4242 4242 4242").await,
        303
    );

    let paid = invoice(&s, &t, &id).await;
    assert_eq!(paid["paid_minor"], 12_900, "{paid}");
    assert_eq!(paid["balance_minor"], 0);
    let payment = payment_of(&s, &t, &cid).await;
    assert_eq!(payment["last4"], "4242");
    assert_eq!(payment["brand"], "visa");
    assert_eq!(payment["amount_minor"], 12_900);
    assert_eq!(payment["allocations"][0]["invoice_id"], id.as_str());
    let stored = serde_json::to_string(&payment).expect("json");
    assert!(
        !stored.contains("4242424242424242"),
        "no card number is stored"
    );
    let pid = payment["id"].as_str().expect("payment id");
    let read = s
        .get(&format!("/payments/{pid}"), t.token(Role::Dispatcher))
        .await;
    assert_eq!(read.status, 200);
    s.get(&format!("/payments/{pid}"), t.token(Role::Technician))
        .await
        .assert_problem(403);

    // A redelivery of the same event, as signed: acknowledged, nothing changes.
    let delivery = delivery_for(&id).await;
    assert_eq!(delivery["status"], 200);
    let body = delivery["body"].as_str().expect("body");
    let again = post_webhook(&s, body, delivery["signature"].as_str()).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["duplicate"], true);
    // Signed afresh with the other configured secret (a rotation): still the same event.
    let rotated = sign(secrets()[1].as_bytes(), now(), body.as_bytes());
    let r = post_webhook(&s, body, Some(&rotated)).await;
    assert_eq!((r.status, r.body["duplicate"].clone()), (200, json!(true)));
    assert_eq!(invoice(&s, &t, &id).await["paid_minor"], 12_900);

    let audit = s.audit(&t).await;
    let received: Vec<&Value> = audit
        .iter()
        .filter(|r| r["action"] == "payment.receive")
        .collect();
    assert_eq!(received.len(), 1, "recorded once");
    assert_eq!(received[0]["actor_role"], "payment_provider");
    assert!(audit.iter().any(|r| r["action"] == "invoice.checkout"));
}

#[tokio::test]
async fn forged_stale_tampered_or_card_bearing_webhooks_are_refused() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let (cid, id) = issued_invoice(&s, &t, 5_000).await;
    let secret = secrets()[0].clone();
    let event = |event_id: &str, last4: &str| {
        json!({"id": event_id, "type": "payment.succeeded", "account": t.payment_account,
            "created": now(), "data": {
            "payment": {"id": format!("pay_{event_id}"), "amount_minor": 5000, "currency": "USD",
                "status": "succeeded", "method": "card", "brand": "visa", "last4": last4},
            "metadata": {"tenant_id": t.id.to_string(), "invoice_id": id, "customer_id": cid}}})
        .to_string()
    };
    let body = event("evt_forged1", "4242");

    let cases: Vec<(&str, Option<String>, String)> = vec![
        ("no signature", None, body.clone()),
        (
            "unknown secret",
            Some(sign(b"whsec_attacker_secret", now(), body.as_bytes())),
            body.clone(),
        ),
        (
            "stale",
            Some(sign(secret.as_bytes(), now() - 400, body.as_bytes())),
            body.clone(),
        ),
        (
            "future",
            Some(sign(secret.as_bytes(), now() + 400, body.as_bytes())),
            body.clone(),
        ),
        ("malformed", Some("t=abc,v1=xyz".into()), body.clone()),
        (
            "tampered",
            Some(sign(secret.as_bytes(), now(), body.as_bytes())),
            body.replace("5000", "9000"),
        ),
    ];
    for (what, signature, body) in cases {
        let r = post_webhook(&s, &body, signature.as_deref()).await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        r.assert_problem(400);
    }
    // Correctly signed, but a card number inside: refused, nothing stored.
    let pan = event("evt_pan1", "4242").replace(
        "\"method\":\"card\"",
        "\"method\":\"card\",\"number\":\"4242424242424242\"",
    );
    let r = post_webhook(
        &s,
        &pan,
        Some(&sign(secret.as_bytes(), now(), pan.as_bytes())),
    )
    .await;
    r.assert_problem(400);
    assert!(r.body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("card")));
    // Correctly signed but not display-safe (a "last4" that is a whole number): refused.
    let long = event("evt_long1", "4242424242424242");
    let r = post_webhook(
        &s,
        &long,
        Some(&sign(secret.as_bytes(), now(), long.as_bytes())),
    )
    .await;
    r.assert_problem(400);
    assert_eq!(
        invoice(&s, &t, &id).await["paid_minor"],
        0,
        "nothing was recorded"
    );

    // The same event correctly signed is accepted once; concurrent redeliveries change nothing.
    let good = event("evt_good1", "1881");
    let deliveries = (0..6).map(|_| {
        let sig = sign(secret.as_bytes(), now(), good.as_bytes());
        let s = &s;
        let good = good.clone();
        async move { post_webhook(s, &good, Some(&sig)).await }
    });
    let results = futures::future::join_all(deliveries).await;
    assert!(
        results.iter().all(|r| r.status == 200),
        "{:?}",
        results.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let fresh = results
        .iter()
        .filter(|r| r.body["duplicate"] == false)
        .count();
    assert_eq!(fresh, 1, "exactly one delivery took effect");
    assert_eq!(invoice(&s, &t, &id).await["paid_minor"], 5_000);
}

async fn prepare_and_confirm(s: &Stack, token: &str, path: &str, body: &Value) -> Reply {
    let prepared = s.post(path, token, body).await;
    assert_eq!(prepared.status, 202, "{}", prepared.body);
    let mut confirmed = body.clone();
    confirmed["confirmation_id"] = prepared.body["confirmation_id"].clone();
    s.post(path, token, &confirmed).await
}

#[tokio::test]
async fn refunds_never_exceed_the_capture_even_when_concurrent() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let (cid, id) = issued_invoice(&s, &t, 12_900).await;
    assert_eq!(pay_by_checkout(&s, &t, &id, "5555555555554444").await, 303);
    let pid = payment_of(&s, &t, &cid).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/payments/{pid}/refunds");
    let accounting = t.user(Role::Accounting);

    let needed = s
        .post(
            &path,
            &accounting.access_token,
            &json!({"amount_minor": 100, "reason": "x"}),
        )
        .await;
    needed.assert_problem(401);
    assert_eq!(needed.body["step_up"], "billing_corrections");
    s.step_up(accounting, "billing_corrections").await;

    // Two refunds of 80.00 against 129.00, confirmed at the same moment: one wins.
    let mut confirmed = Vec::new();
    for reason in ["Duplicate charge", "Customer complaint"] {
        let body = json!({"amount_minor": 8000, "reason": reason});
        let prepared = s.post(&path, &accounting.access_token, &body).await;
        assert_eq!(prepared.status, 202, "{}", prepared.body);
        assert!(prepared.body["summary"]
            .as_str()
            .is_some_and(|m| m.contains("80.00") && m.contains("4444")));
        let mut body = body;
        body["confirmation_id"] = prepared.body["confirmation_id"].clone();
        confirmed.push(body);
    }
    let (a, b) = tokio::join!(
        s.post(&path, &accounting.access_token, &confirmed[0]),
        s.post(&path, &accounting.access_token, &confirmed[1])
    );
    let statuses = [a.status, b.status];
    assert!(
        statuses.contains(&201) && statuses.contains(&409),
        "{statuses:?} {} {}",
        a.body,
        b.body
    );
    let winner = if a.status == 201 { &a } else { &b };
    assert_eq!(winner.body["refunded_minor"], 8000);
    assert_eq!(winner.body["status"], "partially_refunded");
    let inv = invoice(&s, &t, &id).await;
    assert_eq!(
        (inv["paid_minor"].clone(), inv["balance_minor"].clone()),
        (json!(4900), json!(8000))
    );

    // More than what is left: refused before the provider is asked.
    let over = prepare_or_refuse(&s, &accounting.access_token, &path, 5000).await;
    over.assert_problem(409);
    // Exactly what is left, with an Idempotency-Key: replayed, not refunded twice.
    let body = json!({"amount_minor": 4900, "reason": "Close out"});
    let prepared = s.post(&path, &accounting.access_token, &body).await;
    let mut last = body.clone();
    last["confirmation_id"] = prepared.body["confirmation_id"].clone();
    let keyed = |b: &Value| {
        s.http
            .post(format!("{}{path}", s.api))
            .bearer_auth(&accounting.access_token)
            .header("idempotency-key", "refund-close-out-1")
            .json(b)
    };
    let first = s.send(keyed(&last)).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["status"], "refunded");
    let replay = s.send(keyed(&last)).await;
    assert_eq!(replay.status, 201);
    assert_eq!(
        replay
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );

    let provider = at_provider(
        "GET",
        &t,
        &format!(
            "/v1/payments/{}",
            first.body["provider_ref"].as_str().expect("ref")
        ),
        None,
    )
    .await
    .1;
    assert_eq!(
        provider["amount_refunded_minor"], 12_900,
        "the provider refunded exactly the capture"
    );
    let inv = invoice(&s, &t, &id).await;
    assert_eq!(inv["balance_minor"], 12_900, "the invoice owes again");
    let refunds: Vec<Value> = s
        .audit(&t)
        .await
        .into_iter()
        .filter(|r| r["action"] == "payment.refund")
        .collect();
    assert!(
        refunds.len() >= 4,
        "reserve and settle of two refunds are audited"
    );
}

async fn prepare_or_refuse(s: &Stack, token: &str, path: &str, amount: i64) -> Reply {
    s.post(
        path,
        token,
        &json!({"amount_minor": amount, "reason": "too much"}),
    )
    .await
}

#[tokio::test]
async fn staff_record_a_provider_payment_by_reference_once() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let (_, first) = issued_invoice(&s, &t, 3_000).await;
    let owner = t.token(Role::Owner);
    let c = s.post("/customers", owner, &new_customer("Second")).await;
    let _ = c;
    // A payment taken at the provider outside any Fieldvault checkout (no metadata).
    let session: Value = browser()
        .post(format!("{}/v1/checkout_sessions", env("FV_PAYMENTS_API_URL")))
        .bearer_auth(env("FV_PAYMENTS_API_KEY"))
        .header(ACCOUNT_HEADER, account_of(&t))
        .json(&json!({"amount_minor": 5000, "currency": "USD", "description": "Phone payment",
            "metadata": {}, "success_url": "http://127.0.0.1/ok", "cancel_url": "http://127.0.0.1/no"}))
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("json");
    let url = session["url"].as_str().expect("url");
    let paid = browser()
        .post(url)
        .form(&[("card_number", "4242424242424242")])
        .send()
        .await
        .expect("pay");
    assert_eq!(paid.status(), 303);
    let reference = deliveries()
        .await
        .into_iter()
        .rev()
        .find(|d| {
            d["body"]
                .as_str()
                .is_some_and(|b| b.contains("Phone payment") || b.contains("\"metadata\":{}"))
        })
        .and_then(|d| serde_json::from_str::<Value>(d["body"].as_str()?).ok())
        .and_then(|e| e["data"]["payment"]["id"].as_str().map(str::to_owned))
        .expect("the provider's payment reference");

    let accounting = t.user(Role::Accounting);
    let body = json!({"provider_ref": reference, "allocations": [{"invoice_id": first, "amount_minor": 3000}]});
    s.post("/payments", &accounting.access_token, &body)
        .await
        .assert_problem(401);
    s.step_up(accounting, "billing_corrections").await;
    let recorded = prepare_and_confirm(&s, &accounting.access_token, "/payments", &body).await;
    assert_eq!(recorded.status, 201, "{}", recorded.body);
    assert_eq!(
        recorded.body["amount_minor"], 5000,
        "the amount comes from the provider"
    );
    assert_eq!(recorded.body["unallocated_minor"], 2000);
    assert_eq!(recorded.body["source"], "recorded");
    assert_eq!(invoice(&s, &t, &first).await["balance_minor"], 0);

    let twice = s.post("/payments", &accounting.access_token, &body).await;
    let twice = if twice.status == 202 {
        let mut b = body.clone();
        b["confirmation_id"] = twice.body["confirmation_id"].clone();
        s.post("/payments", &accounting.access_token, &b).await
    } else {
        twice
    };
    twice.assert_problem(409);
    let unknown = json!({"provider_ref": "pay_doesnotexist", "allocations": [{"invoice_id": first, "amount_minor": 1}]});
    s.post("/payments", &accounting.access_token, &unknown)
        .await
        .assert_problem(400);
    // Amounts never come from the request body.
    let forged = json!({"provider_ref": reference, "amount_minor": 999999, "allocations": []});
    s.post("/payments", &accounting.access_token, &forged)
        .await
        .assert_problem(400);
}

#[tokio::test]
async fn credit_notes_are_numbered_gated_and_bounded() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let (cid, id) = issued_invoice(&s, &t, 10_000).await;
    let path = format!("/invoices/{id}/credit-notes");
    let admin = t.user(Role::Admin);
    s.post(
        &path,
        &admin.access_token,
        &json!({"amount_minor": 1000, "reason": "Goodwill"}),
    )
    .await
    .assert_problem(401);
    s.step_up(admin, "billing_corrections").await;
    let first = prepare_and_confirm(
        &s,
        &admin.access_token,
        &path,
        &json!({"amount_minor": 4000, "reason": "Goodwill"}),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["credit_note_number"], 1);
    let second = prepare_and_confirm(
        &s,
        &admin.access_token,
        &path,
        &json!({"amount_minor": 1000, "reason": "Late arrival"}),
    )
    .await;
    assert_eq!(second.body["credit_note_number"], 2);
    let inv = invoice(&s, &t, &id).await;
    assert_eq!(
        (inv["credited_minor"].clone(), inv["balance_minor"].clone()),
        (json!(5000), json!(5000))
    );
    s.post(
        &path,
        &admin.access_token,
        &json!({"amount_minor": 5001, "reason": "Too much"}),
    )
    .await
    .assert_problem(409);
    let timeline = s
        .get(&format!("/customers/{cid}/timeline"), t.token(Role::Owner))
        .await;
    let notes = timeline.body["entries"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["kind"] == "credit_note").count());
    assert_eq!(notes, Some(2));
    assert!(s
        .audit(&t)
        .await
        .iter()
        .any(|r| r["action"] == "invoice.credit_note"));
}

#[tokio::test]
async fn a_deposit_invoice_bills_a_share_of_the_approved_option() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let office = t.token(Role::Dispatcher);
    let billing = t.token(Role::Accounting);
    let c = s
        .post("/customers", t.token(Role::Owner), &new_customer("Deposit"))
        .await;
    let cid = c.body["id"].as_str().expect("id").to_owned();
    let e = s
        .post("/estimates", office, &json!({"customer_id": cid, "title": "New furnace", "valid_until": "2999-01-01", "options": [
            {"name": "Best", "lines": [{"description": "Furnace", "quantity": "1", "unit_price_minor": 480001, "tax_rate": "0"}]}]}))
        .await;
    let eid = e.body["id"].as_str().expect("id").to_owned();
    let deposit = json!({"customer_id": cid, "estimate_id": eid, "deposit": {"percent": "25"}});
    s.post("/invoices", billing, &deposit)
        .await
        .assert_problem(409);
    s.call(
        "POST",
        &format!("/estimates/{eid}/send"),
        Some(office),
        None,
    )
    .await;
    let approved = s
        .post(&format!("/estimates/{eid}/approve"), office, &json!({"option_id": e.body["options"][0]["id"], "revision": 1, "approved_by_name": "Kim"}))
        .await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    let inv = s.post("/invoices", billing, &deposit).await;
    assert_eq!(inv.status, 201, "{}", inv.body);
    assert_eq!(inv.body["kind"], "deposit");
    assert_eq!(inv.body["estimate_id"], eid.as_str());
    assert_eq!(
        inv.body["totals"]["total_minor"], 120_000,
        "25% of 4800.01, half-up"
    );
    for bad in [
        json!({"percent": "0"}),
        json!({"percent": "101"}),
        json!({"amount_minor": 480_002}),
        json!({"percent": "10", "amount_minor": 100}),
    ] {
        s.post(
            "/invoices",
            billing,
            &json!({"customer_id": cid, "estimate_id": eid, "deposit": bad}),
        )
        .await
        .assert_problem(400);
    }
    s.post("/invoices", t.token(Role::Technician), &deposit)
        .await
        .assert_problem(403);
}

#[tokio::test]
async fn money_routes_by_role() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let (_, id) = issued_invoice(&s, &t, 2_000).await;
    for role in Role::ALL {
        let token = t.token(role);
        let checkout = s
            .call(
                "POST",
                &format!("/invoices/{id}/checkout"),
                Some(token),
                None,
            )
            .await;
        if matches!(role, Role::Technician) {
            checkout.assert_problem(403);
        } else {
            assert_eq!(checkout.status, 201, "{role}: {}", checkout.body);
        }
        // MFA-gated money actions: billing roles are asked to step up, the rest refused.
        for (path, body) in [
            (
                format!("/invoices/{id}/credit-notes"),
                json!({"amount_minor": 1, "reason": "x"}),
            ),
            (
                "/payments".to_owned(),
                json!({"provider_ref": "pay_x", "allocations": []}),
            ),
            (
                format!("/payments/{}/refunds", ulid::Ulid::new()),
                json!({"amount_minor": 1, "reason": "x"}),
            ),
        ] {
            let r = s.post(&path, token, &body).await;
            match role {
                Role::Owner | Role::Admin | Role::Accounting if path.contains("/refunds") => {
                    r.assert_problem(404)
                }
                Role::Owner | Role::Admin | Role::Accounting => {
                    r.assert_problem(401);
                    assert_eq!(r.body["step_up"], "billing_corrections", "{path}");
                }
                // The data layer refuses technicians payment keys before the lookup.
                Role::Dispatcher if path.contains("/refunds") => r.assert_problem(404),
                _ => r.assert_problem(403),
            }
        }
    }
    // Another tenant's invoice is not there at all.
    let other = s.tenant().await;
    s.call(
        "POST",
        &format!("/invoices/{id}/checkout"),
        Some(other.token(Role::Owner)),
        None,
    )
    .await
    .assert_problem(404);
}

#[tokio::test]
async fn the_accounting_export_lists_every_money_event_behind_a_step_up() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let (_, id) = issued_invoice(&s, &t, 20_000).await;
    assert_eq!(pay_by_checkout(&s, &t, &id, "4242424242424242").await, 303);
    let admin = t.user(Role::Admin);
    s.step_up(admin, "billing_corrections").await;
    let note = prepare_and_confirm(
        &s,
        &admin.access_token,
        &format!("/invoices/{id}/credit-notes"),
        &json!({"amount_minor": 2500, "reason": "Goodwill"}),
    )
    .await;
    assert_eq!(note.status, 201, "{}", note.body);

    let today = time::OffsetDateTime::now_utc().date().to_string();
    let path = format!("/accounting/export?from={today}&to={today}");
    let owner = t.user(Role::Owner);
    let needed = s.get(&path, &owner.access_token).await;
    needed.assert_problem(401);
    assert_eq!(needed.body["step_up"], "accounting_exports");
    for role in [Role::Dispatcher, Role::Technician] {
        s.get(&path, t.token(role)).await.assert_problem(403);
    }
    s.step_up(owner, "accounting_exports").await;
    let export = s.get(&path, &owner.access_token).await;
    assert_eq!(export.status, 200, "{}", export.body);
    let kinds: Vec<&str> = export.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    for kind in ["invoice_issued", "payment", "credit_note"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert_eq!(export.body["invoiced_minor"], 20_000);
    assert_eq!(export.body["received_minor"], 20_000);
    assert_eq!(export.body["credited_minor"], 2_500);
    s.get("/accounting/export?from=2026-01-01", &owner.access_token)
        .await
        .assert_problem(400);
    assert!(s
        .audit(&t)
        .await
        .iter()
        .any(|r| r["action"] == "accounting.export"));
    // Another tenant's export holds none of this tenant's entries.
    let other = s.tenant().await;
    let their_owner = other.user(Role::Owner);
    s.step_up(their_owner, "accounting_exports").await;
    let theirs = s.get(&path, &their_owner.access_token).await;
    assert_eq!(theirs.body["entries"], json!([]));
}

/// An item of `t`'s, read directly from the data table through the tenant's own session.
async fn stored(
    s: &Stack,
    t: &TestTenant,
    key: &keys::Key,
) -> Option<serde_json::Map<String, Value>> {
    use fieldvault_core::store::TenantStore;
    let owner = t.user(Role::Owner);
    s.sessions()
        .session(&t.id, Role::Owner, &owner.id)
        .await
        .expect("session")
        .store()
        .get(key)
        .await
        .expect("read")
}

#[tokio::test]
async fn another_shops_payment_cannot_be_recorded_or_refunded_and_records_once_in_its_own_shop() {
    let s = Stack::connect().await;
    let (a, b) = (s.tenant().await, s.tenant().await);
    assert_ne!(
        a.payment_account, b.payment_account,
        "each shop has its own account"
    );
    // B's customer pays B's invoice; B's webhook records it.
    let (b_customer, b_invoice) = issued_invoice(&s, &b, 2_500).await;
    assert_eq!(
        pay_by_checkout(&s, &b, &b_invoice, "4242424242424242").await,
        303
    );
    let b_payment = payment_of(&s, &b, &b_customer).await;
    let reference = b_payment["provider_ref"].as_str().expect("ref").to_owned();
    assert_eq!(b_payment["provider_account"], json!(account_of(&b)));
    let delivery = delivery_for(&b_invoice).await;
    let event: Value =
        serde_json::from_str(delivery["body"].as_str().expect("body")).expect("json");
    assert_eq!(event["account"], json!(account_of(&b)));
    let event_id = event["id"].as_str().expect("event id").to_owned();

    // A, stepped up in its own shop, tries to record B's payment against one of A's invoices.
    let (_, a_invoice) = issued_invoice(&s, &a, 1_000).await;
    let accounting = a.user(Role::Accounting);
    s.step_up(accounting, "billing_corrections").await;
    let body = json!({"provider_ref": reference, "allocations": [{"invoice_id": a_invoice, "amount_minor": 1}]});
    let r = s.post("/payments", &accounting.access_token, &body).await;
    r.assert_problem(400);
    assert!(r.body.to_string().contains("no such payment"), "{}", r.body);
    // Nothing of it in A: no payment, no reference or event marker, no success in the trail.
    assert!(stored(
        &s,
        &a,
        &keys::payment_reference(&a.id, "sandbox", &reference)
    )
    .await
    .is_none());
    assert!(
        stored(&s, &a, &keys::provider_event(&a.id, "sandbox", &event_id))
            .await
            .is_none()
    );
    assert_eq!(invoice(&s, &a, &a_invoice).await["paid_minor"], 0);
    let audit = s.audit(&a).await;
    assert!(
        !audit.iter().any(|r| (r["action"] == "payment.record"
            || r["action"] == "payment.receive")
            && r["outcome"] == "success"),
        "{audit:?}"
    );
    // Nor can A's account reach it at the provider: no lookup, no refund.
    let (status, _) = at_provider("GET", &a, &format!("/v1/payments/{reference}"), None).await;
    assert_eq!(status, 404, "another account's payment is no such payment");
    let (status, answer) = at_provider(
        "POST",
        &a,
        "/v1/refunds",
        Some(&json!({"payment": reference, "amount_minor": 2500})),
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    // And B's payment id is nothing in A's shop.
    let b_pid = b_payment["id"].as_str().expect("id");
    s.post(
        &format!("/payments/{b_pid}/refunds"),
        &accounting.access_token,
        &json!({"amount_minor": 2500, "reason": "steal"}),
    )
    .await
    .assert_problem(404);
    let (_, at_b) = at_provider("GET", &b, &format!("/v1/payments/{reference}"), None).await;
    assert_eq!(
        at_b["amount_refunded_minor"], 0,
        "B's customer was refunded nothing"
    );

    // B's event, correctly signed but naming A as its tenant: it happened on B's account, so it
    // records nothing in A.
    let secret = secrets()[0].clone();
    let mut misattributed = event.clone();
    misattributed["id"] = json!(format!("{event_id}_a"));
    misattributed["data"]["metadata"]["tenant_id"] = json!(a.id.to_string());
    misattributed["data"]["metadata"]["invoice_id"] = json!(a_invoice);
    let raw = misattributed.to_string();
    let r = post_webhook(
        &s,
        &raw,
        Some(&sign(secret.as_bytes(), now(), raw.as_bytes())),
    )
    .await;
    r.assert_problem(400);
    assert_eq!(invoice(&s, &a, &a_invoice).await["paid_minor"], 0);
    assert!(stored(
        &s,
        &a,
        &keys::payment_reference(&a.id, "sandbox", &reference)
    )
    .await
    .is_none());

    // B's own delivery, redelivered: still recorded exactly once, in B.
    let raw = delivery["body"].as_str().expect("body");
    let again = post_webhook(
        &s,
        raw,
        Some(&sign(secret.as_bytes(), now(), raw.as_bytes())),
    )
    .await;
    assert_eq!(
        (again.status, again.body["duplicate"].clone()),
        (200, json!(true))
    );
    let received = s
        .audit(&b)
        .await
        .into_iter()
        .filter(|r| r["action"] == "payment.receive" && r["outcome"] == "success")
        .count();
    assert_eq!(received, 1);
    assert_eq!(invoice(&s, &b, &b_invoice).await["paid_minor"], 2_500);
    assert!(stored(
        &s,
        &b,
        &keys::payment_reference(&b.id, "sandbox", &reference)
    )
    .await
    .is_some());
}

#[tokio::test]
async fn a_shop_without_a_provider_account_gets_a_clear_409_from_payment_routes() {
    let s = Stack::connect().await;
    let t = s.tenant_with(false).await;
    assert!(t.payment_account.is_none());
    let (_, id) = issued_invoice(&s, &t, 1_000).await;
    let r = s
        .call(
            "POST",
            &format!("/invoices/{id}/checkout"),
            Some(t.token(Role::Accounting)),
            None,
        )
        .await;
    r.assert_problem(409);
    assert!(
        r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no account at the payment provider")),
        "{}",
        r.body
    );
    let accounting = t.user(Role::Accounting);
    s.step_up(accounting, "billing_corrections").await;
    let r = s
        .post(
            "/payments",
            &accounting.access_token,
            &json!({"provider_ref": "pay_x", "allocations": [{"invoice_id": id, "amount_minor": 1}]}),
        )
        .await;
    r.assert_problem(409);
    assert!(
        r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no account at the payment provider")),
        "{}",
        r.body
    );
}

/// Confirm the same prepared request `times` times at once: the statuses.
async fn confirm_concurrently(
    s: &Stack,
    token: &str,
    path: &str,
    confirmed: &Value,
    times: usize,
) -> Vec<u16> {
    let tries = (0..times).map(|_| s.post(path, token, confirmed));
    futures::future::join_all(tries)
        .await
        .iter()
        .map(|r| r.status)
        .collect()
}

async fn prepared(s: &Stack, token: &str, path: &str, body: &Value) -> Value {
    let p = s.post(path, token, body).await;
    assert_eq!(p.status, 202, "{}", p.body);
    let mut confirmed = body.clone();
    confirmed["confirmation_id"] = p.body["confirmation_id"].clone();
    confirmed
}

#[tokio::test]
async fn a_credit_note_confirmation_is_used_once_and_only_for_the_invoice_version_it_saw() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let (cid, id) = issued_invoice(&s, &t, 10_000).await;
    let path = format!("/invoices/{id}/credit-notes");
    let admin = t.user(Role::Admin);
    s.step_up(admin, "billing_corrections").await;
    let token = &admin.access_token;

    let once = prepared(
        &s,
        token,
        &path,
        &json!({"amount_minor": 1000, "reason": "Goodwill"}),
    )
    .await;
    let mut statuses = confirm_concurrently(&s, token, &path, &once, 3).await;
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        vec![201, 409, 409],
        "one prepare, one credit note"
    );
    s.post(&path, token, &once).await.assert_problem(409);

    // Prepared, then the invoice changes (another credit note): the first no longer confirms.
    let stale = prepared(
        &s,
        token,
        &path,
        &json!({"amount_minor": 500, "reason": "Late"}),
    )
    .await;
    let other = prepare_and_confirm(
        &s,
        token,
        &path,
        &json!({"amount_minor": 200, "reason": "Parts"}),
    )
    .await;
    assert_eq!(other.status, 201, "{}", other.body);
    s.post(&path, token, &stale).await.assert_problem(409);

    let inv = invoice(&s, &t, &id).await;
    assert_eq!(inv["credited_minor"], 1_200);
    let notes = s
        .get(&format!("/customers/{cid}/timeline"), t.token(Role::Owner))
        .await
        .body["entries"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["kind"] == "credit_note").count());
    assert_eq!(notes, Some(2));
}

#[tokio::test]
async fn a_refund_confirmation_is_used_once_and_only_for_the_payment_version_it_saw() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let (cid, id) = issued_invoice(&s, &t, 9_000).await;
    assert_eq!(pay_by_checkout(&s, &t, &id, "4242424242424242").await, 303);
    let pid = payment_of(&s, &t, &cid).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/payments/{pid}/refunds");
    let accounting = t.user(Role::Accounting);
    s.step_up(accounting, "billing_corrections").await;
    let token = &accounting.access_token;

    let once = prepared(
        &s,
        token,
        &path,
        &json!({"amount_minor": 1000, "reason": "Duplicate"}),
    )
    .await;
    let mut statuses = confirm_concurrently(&s, token, &path, &once, 3).await;
    statuses.sort_unstable();
    assert_eq!(statuses, vec![201, 409, 409], "one prepare, one refund");
    s.post(&path, token, &once).await.assert_problem(409);

    // Prepared, then the payment changes (another refund): the first no longer confirms.
    let stale = prepared(
        &s,
        token,
        &path,
        &json!({"amount_minor": 500, "reason": "Later"}),
    )
    .await;
    let other = prepare_and_confirm(
        &s,
        token,
        &path,
        &json!({"amount_minor": 200, "reason": "Parts"}),
    )
    .await;
    assert_eq!(other.status, 201, "{}", other.body);
    s.post(&path, token, &stale).await.assert_problem(409);

    let payment = s.get(&format!("/payments/{pid}"), token).await.body;
    assert_eq!(payment["refunded_minor"], 1_200, "{payment}");
    assert_eq!(payment["refunds"].as_array().map(Vec::len), Some(2));
    let reference = payment["provider_ref"].as_str().expect("ref");
    let (_, at_provider) = at_provider("GET", &t, &format!("/v1/payments/{reference}"), None).await;
    assert_eq!(
        at_provider["amount_refunded_minor"], 1_200,
        "the provider refunded once per confirmation"
    );
}
