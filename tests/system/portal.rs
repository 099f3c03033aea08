//! Customer links and the portal, over HTTP: approve links used once with the decision's
//! evidence, pay links through the sandbox checkout to a receipt, sign-in links, and every
//! way a link dies (revoked, document changed, expired, forged, another tenant's) answered
//! with the same neutral page and recorded.
use aws_sdk_dynamodb::types::AttributeValue;
use fieldvault_core::caller::Role;
use fieldvault_system_tests::{new_customer, Stack, TestTenant};
use serde_json::{json, Value};

pub(crate) struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The page with its per-response nonce taken out, to compare pages.
    fn stable(&self) -> String {
        let csp = self.header("content-security-policy");
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .unwrap_or("-");
        self.text.replace(nonce, "")
    }

    fn assert_portal_headers(&self) {
        let csp = self.header("content-security-policy");
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        assert!(
            !csp.contains("script-src") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(self.header("referrer-policy"), "no-referrer");
        assert!(self.header("x-robots-tag").contains("noindex"));
        assert_eq!(self.header("cache-control"), "no-store");
        assert!(self.header("content-type").starts_with("text/html"));
        assert!(!self.text.contains("<script"), "no scripts at all");
        assert!(self.text.contains("noindex"));
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub(crate) async fn open(url: &str) -> Page {
    let r = client().get(url).send().await.expect("page");
    Page {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        text: r.text().await.unwrap_or_default(),
    }
}

async fn submit(url: &str, form: &[(&str, &str)]) -> Page {
    let r = client()
        .post(url)
        .header("user-agent", "PortalTest/1.0")
        .form(form)
        .send()
        .await
        .expect("form");
    Page {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        text: r.text().await.unwrap_or_default(),
    }
}

pub(crate) async fn customer(s: &Stack, t: &TestTenant) -> String {
    let mut c = new_customer("Portal Customer");
    c["contact_points"]
        .as_array_mut()
        .expect("contacts")
        .push(json!({"kind": "email", "value": "pat@example.com", "email_consent": true}));
    let r = s.post("/customers", t.token(Role::Owner), &c).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().expect("id").to_owned()
}

/// A sent estimate with two options: (estimate, its approve link url, link id).
pub(crate) async fn sent_estimate(s: &Stack, t: &TestTenant, cid: &str) -> (Value, String, String) {
    let office = t.token(Role::Dispatcher);
    let e = s
        .post("/estimates", office, &json!({"customer_id": cid, "title": "Furnace replacement", "valid_until": "2999-01-01", "options": [
            {"name": "Good", "lines": [{"description": "Basic furnace", "quantity": "1", "unit_price_minor": 300000, "tax_rate": "0"}]},
            {"name": "Best", "lines": [{"description": "Heat pump <premium>", "quantity": "1", "unit_price_minor": 900000, "tax_rate": "0"}]}]}))
        .await;
    assert_eq!(e.status, 201, "{}", e.body);
    let id = e.body["id"].as_str().expect("id").to_owned();
    let sent = s
        .call("POST", &format!("/estimates/{id}/send"), Some(office), None)
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert_eq!(sent.body["status"], "sent");
    let url = sent.body["link"]["url"].as_str().expect("url").to_owned();
    let link_id = sent.body["link"]["link_id"]
        .as_str()
        .expect("link id")
        .to_owned();
    (sent.body, url, link_id)
}

/// An issued invoice sent to the customer: (invoice id, pay link url, link id).
pub(crate) async fn sent_invoice(
    s: &Stack,
    t: &TestTenant,
    cid: &str,
    amount: i64,
) -> (String, String, String) {
    let billing = t.token(Role::Accounting);
    let inv = s
        .post("/invoices", billing, &json!({"customer_id": cid, "lines": [{"description": "Repair", "quantity": "1", "unit_price_minor": amount}]}))
        .await;
    let id = inv.body["id"].as_str().expect("id").to_owned();
    let issued = s
        .call(
            "POST",
            &format!("/invoices/{id}/issue"),
            Some(billing),
            None,
        )
        .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let sent = s
        .call("POST", &format!("/invoices/{id}/send"), Some(billing), None)
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    (
        id,
        sent.body["link"]["url"].as_str().expect("url").to_owned(),
        sent.body["link"]["link_id"]
            .as_str()
            .expect("id")
            .to_owned(),
    )
}

#[tokio::test]
async fn an_approve_link_decides_once_and_records_the_evidence() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let cid = customer(&s, &t).await;
    let (estimate, url, link_id) = sent_estimate(&s, &t, &cid).await;
    let eid = estimate["id"].as_str().expect("id");
    assert!(
        url.contains("/portal/l/") && !url.contains(&link_id),
        "only the hash is the id"
    );

    let page = open(&url).await;
    assert_eq!(page.status, 200, "{}", page.text);
    page.assert_portal_headers();
    assert!(page.text.contains("Furnace replacement"));
    assert!(page.text.contains("Heat pump &lt;premium&gt;"), "escaped");
    assert!(page.text.contains("9000.00 USD"));

    let best = estimate["options"][1]["id"].as_str().expect("option");
    let no_consent = submit(
        &url,
        &[
            ("action", "approve"),
            ("option_id", best),
            ("name", "Pat Doe"),
        ],
    )
    .await;
    assert_eq!(no_consent.status, 400);
    let done = submit(
        &url,
        &[
            ("action", "approve"),
            ("option_id", best),
            ("name", "Pat Doe"),
            ("consent", "yes"),
        ],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    done.assert_portal_headers();
    assert!(done.text.contains("Approved by Pat Doe"));

    let e = s
        .get(&format!("/estimates/{eid}"), t.token(Role::Owner))
        .await;
    assert_eq!(e.body["status"], "approved");
    let d = &e.body["decision"];
    assert_eq!(d["option_id"], best);
    assert_eq!(d["customer_name"], "Pat Doe");
    assert_eq!(d["portal"]["consent"], true);
    assert_eq!(d["portal"]["user_agent"], "PortalTest/1.0");
    assert_eq!(d["portal"]["link_id"], link_id.as_str());
    assert!(d["portal"]["ip"].as_str().is_some_and(|ip| !ip.is_empty()));
    assert!(d["snapshot_sha256"].as_str().is_some_and(|h| h.len() == 64));

    // Used once: the same link now opens the neutral page, and a second decision is refused.
    let again = open(&url).await;
    assert_eq!(again.status, 404);
    again.assert_portal_headers();
    assert!(again.text.contains("not available"));
    let twice = submit(&url, &[("action", "decline")]).await;
    assert_eq!(twice.status, 404);

    // The approved estimate can now become a job.
    let job = s
        .post(
            "/jobs",
            t.token(Role::Dispatcher),
            &json!({"customer_id": cid, "estimate_id": eid}),
        )
        .await;
    assert_eq!(job.status, 201, "{}", job.body);

    let audit = s.audit(&t).await;
    for action in [
        "portal.view",
        "portal.approve",
        "portal.link_refused",
        "estimate.send",
    ] {
        assert!(
            audit.iter().any(|r| r["action"] == action),
            "{action} audited"
        );
    }
    let approve = audit
        .iter()
        .find(|r| r["action"] == "portal.approve")
        .expect("approve");
    assert_eq!(approve["actor_role"], "customer");
    assert_eq!(approve["user_agent"], "PortalTest/1.0");
}

#[tokio::test]
async fn a_pay_link_goes_to_the_provider_and_comes_back_to_a_receipt() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let cid = customer(&s, &t).await;
    let (id, url, _) = sent_invoice(&s, &t, &cid, 15_000).await;
    let page = open(&url).await;
    assert_eq!(page.status, 200, "{}", page.text);
    page.assert_portal_headers();
    assert!(page.text.contains("Balance"));
    assert!(page.text.contains("150.00 USD"));
    let provider = std::env::var("FV_PAYMENTS_API_URL").expect("sandbox");
    assert!(
        page.header("content-security-policy")
            .contains(&format!("form-action 'self' {provider}")),
        "the pay form may go to the provider only"
    );
    let pay = submit(&url, &[("action", "pay")]).await;
    assert_eq!(pay.status, 303, "{}", pay.text);
    let checkout = pay.header("location").to_owned();
    assert!(checkout.starts_with(&provider), "{checkout}");
    let back = client()
        .post(&checkout)
        .form(&[("card_number", "4242 4242 4242 4242"), ("name", "Pat Doe")])
        .send()
        .await
        .expect("pay");
    assert_eq!(back.status(), 303);
    let return_to = back
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        return_to, url,
        "the provider sends the customer back to the link"
    );
    let receipt = open(&url).await;
    assert_eq!(receipt.status, 200);
    assert!(receipt.text.contains("Paid in full"), "{}", receipt.text);
    let inv = s
        .get(&format!("/invoices/{id}"), t.token(Role::Accounting))
        .await;
    assert_eq!(inv.body["balance_minor"], 0);
}

#[tokio::test]
async fn dead_links_all_show_the_same_neutral_page_and_are_recorded() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let cid = customer(&s, &t).await;
    let neutral = open(&format!("{}/portal/l/garbage", s.api)).await;
    assert_eq!(neutral.status, 404);
    neutral.assert_portal_headers();
    let expected = neutral.stable();

    // Revoked.
    let (_, pay_url, pay_link) = sent_invoice(&s, &t, &cid, 5_000).await;
    assert_eq!(open(&pay_url).await.status, 200);
    s.call(
        "POST",
        &format!("/links/{pay_link}/revoke"),
        Some(t.token(Role::Technician)),
        None,
    )
    .await
    .assert_problem(403);
    let revoked = s
        .call(
            "POST",
            &format!("/links/{pay_link}/revoke"),
            Some(t.token(Role::Accounting)),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let page = open(&pay_url).await;
    assert_eq!((page.status, page.stable()), (404, expected.clone()));

    // The document changed: a revised estimate kills the old revision's link.
    let (estimate, url, _) = sent_estimate(&s, &t, &cid).await;
    let eid = estimate["id"].as_str().expect("id");
    let revised = s
        .patch(
            &format!("/estimates/{eid}"),
            t.token(Role::Dispatcher),
            &json!({"title": "Furnace (revised)"}),
        )
        .await;
    assert_eq!(revised.status, 200, "{}", revised.body);
    let page = open(&url).await;
    assert_eq!((page.status, page.stable()), (404, expected.clone()));

    // Expired (the record's expiry moved into the past, as time would).
    let (_, url, link_id) = sent_invoice(&s, &t, &cid, 7_000).await;
    let ddb = aws_sdk_dynamodb::Client::new(&s.sdk);
    ddb.update_item()
        .table_name(&s.settings().data_table)
        .key(
            "pk",
            AttributeValue::S(format!("T#{}#LINK#{link_id}", t.id)),
        )
        .key("sk", AttributeValue::S("LINK".into()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", AttributeValue::S("2020-01-01T00:00:00Z".into()))
        .send()
        .await
        .expect("expire");
    let page = open(&url).await;
    assert_eq!((page.status, page.stable()), (404, expected.clone()));

    // Forged: a well-formed token nobody issued; another tenant's link under this tenant.
    let forged = format!("{}/portal/l/{}.{}", s.api, t.id, "A".repeat(43));
    let page = open(&forged).await;
    assert_eq!((page.status, page.stable()), (404, expected.clone()));
    let other = s.tenant().await;
    let other_cid = customer(&s, &other).await;
    let (_, theirs, _) = sent_invoice(&s, &other, &other_cid, 1_000).await;
    let moved = theirs.replace(&format!("/l/{}.", other.id), &format!("/l/{}.", t.id));
    assert_ne!(moved, theirs);
    let page = open(&moved).await;
    assert_eq!((page.status, page.stable()), (404, expected.clone()));
    assert_eq!(
        open(&theirs).await.status,
        200,
        "the genuine link still works"
    );

    let refused: Vec<String> = s
        .audit(&t)
        .await
        .into_iter()
        .filter(|r| r["action"] == "portal.link_refused")
        .filter_map(|r| r["reason"].as_str().map(str::to_owned))
        .collect();
    for reason in [
        "revoked link",
        "the document changed",
        "expired link",
        "unknown link",
    ] {
        assert!(
            refused.iter().any(|r| r == reason),
            "{reason} in {refused:?}"
        );
    }
}

#[tokio::test]
async fn a_sign_in_link_shows_the_customers_documents_once() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let cid = customer(&s, &t).await;
    sent_estimate(&s, &t, &cid).await;
    sent_invoice(&s, &t, &cid, 2_500).await;
    s.call(
        "POST",
        &format!("/customers/{cid}/portal-link"),
        Some(t.token(Role::Technician)),
        None,
    )
    .await
    .assert_problem(403);
    let link = s
        .call(
            "POST",
            &format!("/customers/{cid}/portal-link"),
            Some(t.token(Role::Dispatcher)),
            None,
        )
        .await;
    assert_eq!(link.status, 201, "{}", link.body);
    assert_eq!(link.body["purpose"], "sign_in");
    let url = link.body["url"].as_str().expect("url");
    let home = open(url).await;
    assert_eq!(home.status, 200, "{}", home.text);
    home.assert_portal_headers();
    assert!(home.text.contains("Estimate: Furnace replacement"));
    assert!(home.text.contains("Invoice #"));
    let first = home
        .text
        .split("href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a document link")
        .replace("&amp;", "&");
    assert_eq!(open(&first).await.status, 200);
    assert_eq!(open(url).await.status, 404, "a sign-in link opens once");
}

#[tokio::test]
async fn link_routes_by_role() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let cid = customer(&s, &t).await;
    let (id, _, _) = sent_invoice(&s, &t, &cid, 1_000).await;
    for role in Role::ALL {
        let r = s
            .call(
                "POST",
                &format!("/invoices/{id}/send"),
                Some(t.token(role)),
                None,
            )
            .await;
        if matches!(role, Role::Owner | Role::Admin | Role::Accounting) {
            assert_eq!(r.status, 200, "{role}: {}", r.body);
        } else {
            r.assert_problem(403);
        }
    }
}

/// The local gateway's session counters for `tenant` (`/_local/sessions`, local stack only).
async fn session_counters(s: &Stack, tenant: &str) -> Value {
    let r = s
        .http
        .get(format!("{}/_local/sessions?tenant={tenant}", s.api))
        .send()
        .await
        .expect("counters");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

/// A flood of random tokens costs no session and no record per request: tokens naming a
/// real tenant (whose links this container has opened) and tokens naming tenants that do
/// not exist all get the neutral page; the link is looked up with the portal's own role
/// first, so no AssumeRole is made for any of them (the real tenant keeps its one portal
/// session), the session cache stays within its bound, the real tenant gets at most one
/// refusal record a minute (with the count of the others), and no tenant that does not
/// exist is ever written to.
#[tokio::test]
#[ignore = "counts the container's AssumeRole calls, which other tests' sessions would churn: infra/local/test.sh runs it alone, after the other tests"]
async fn random_tokens_open_no_session_and_are_recorded_at_most_once_a_minute() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let cid = customer(&s, &t).await;
    let (_, url, _) = sent_invoice(&s, &t, &cid, 2_500).await;
    assert_eq!(open(&url).await.status, 200, "a genuine link opens");
    let before = session_counters(&s, t.id.as_str()).await;
    assert!(
        before["tenant_assume_role_calls"]["customer"]
            .as_u64()
            .is_some_and(|n| n <= 1),
        "one portal session for the tenant: {before}"
    );
    let audited = |records: &[Value]| {
        records
            .iter()
            .filter(|r| r["action"] == "portal.link_refused" && r["reason"] == "unknown link")
            .count()
    };
    let refused_before = audited(&s.audit(&t).await);

    let ghosts: Vec<String> = (0..25)
        .map(|_| format!("ghost-{}", ulid::Ulid::new().to_string().to_lowercase()))
        .collect();
    // 43 characters of the token alphabet, unguessable (two ULIDs' randomness).
    let random = || {
        format!("{}{}", ulid::Ulid::new(), ulid::Ulid::new())
            .chars()
            .take(43)
            .collect::<String>()
    };
    let mut urls = Vec::new();
    for i in 0..500 {
        let tenant = if i % 2 == 0 {
            t.id.to_string()
        } else {
            ghosts[i % ghosts.len()].clone()
        };
        urls.push(format!("{}/portal/l/{tenant}.{}", s.api, random()));
    }
    for chunk in urls.chunks(25) {
        let pages = futures::future::join_all(chunk.iter().map(|u| open(u))).await;
        for page in pages {
            assert_eq!(page.status, 404);
            assert!(page.text.contains("not available"));
        }
    }

    let after = session_counters(&s, t.id.as_str()).await;
    assert_eq!(
        after["tenant_assume_role_calls"], before["tenant_assume_role_calls"],
        "no AssumeRole for the real tenant's random tokens"
    );
    assert!(
        after["cached_sessions"].as_u64() <= after["session_cache_bound"].as_u64(),
        "{after}"
    );
    let ddb = aws_sdk_dynamodb::Client::new(&s.sdk);
    let audit_table = s.settings().audit_table;
    for ghost in &ghosts {
        let counters = session_counters(&s, ghost).await;
        let calls = counters["tenant_assume_role_calls"]
            .as_object()
            .expect("per role");
        assert!(
            calls.values().all(|n| n == 0),
            "no session for {ghost}: {counters}"
        );
        let written = ddb
            .query()
            .table_name(&audit_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("T#{ghost}#AUDIT")))
            .send()
            .await
            .expect("query");
        assert_eq!(written.count(), 0, "{ghost} was written to");
    }
    // 250 refusals in the real tenant: the first of each minute is recorded (the test may
    // straddle a minute), carrying the count of those it did not record.
    let records = s.audit(&t).await;
    let new = audited(&records) - refused_before;
    assert!(
        (1..=2).contains(&new),
        "{new} refusal records for 250 tokens"
    );
    assert_eq!(open(&url).await.status, 200, "the genuine link still opens");
}
