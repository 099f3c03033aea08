//! What every route refuses before its handler runs, whatever its content type: a body over
//! 64 KiB (413 problem, on the webhooks and the portal too), a body holding what looks like a
//! card number (the portal's form fields, JSON object keys); and a JSON body that is not the
//! documented object (an array where an object is required).
use fieldvault_core::caller::Role;
use fieldvault_core::problem::MAX_BODY_BYTES;
use fieldvault_system_tests::{new_customer, Stack};
use serde_json::json;

use crate::portal::{customer, sent_estimate};

/// Every route, authenticated or public, JSON or form: one byte over the limit is a 413
/// problem with the security headers, and the handler never ran (nothing was recorded).
#[tokio::test]
async fn a_body_over_64_kib_is_413_on_every_route_before_its_handler() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.token(Role::Owner);
    let big = "a".repeat(MAX_BODY_BYTES + 1);
    let telephony = format!("/webhooks/telephony?tenant={}&tenant_token=00", t.id);
    let portal = format!("/portal/l/{}.{}", t.id, "A".repeat(43));
    let routes = [
        ("/customers", Some(owner), "application/json"),
        ("/intake", Some(owner), "application/json"),
        ("/webhooks/payments", None, "application/json"),
        (telephony.as_str(), None, "application/json"),
        (portal.as_str(), None, "application/x-www-form-urlencoded"),
    ];
    for (path, token, content_type) in routes {
        let mut req = s
            .http
            .post(format!("{}{path}", s.api))
            .header("content-type", content_type)
            .body(big.clone());
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let r = s.send(req).await;
        r.assert_problem(413);
    }
    // At the limit, the body reaches the handler (which refuses it for what it is).
    let at_limit = s
        .send(
            s.http
                .post(format!("{}/webhooks/payments", s.api))
                .header("content-type", "application/json")
                .body("a".repeat(MAX_BODY_BYTES)),
        )
        .await;
    assert_eq!(at_limit.status, 400, "{}", at_limit.body);
    // No portal refusal was recorded: the portal's handler never ran for the big body.
    let audit = s.audit(&t).await;
    assert!(
        !audit.iter().any(|a| a["action"]
            .as_str()
            .is_some_and(|x| x.starts_with("portal."))),
        "{audit:?}"
    );
}

/// `["x"]` is no customer and `[]` no decline: every JSON body must be the documented object.
#[tokio::test]
async fn a_json_array_where_an_object_is_required_is_400_and_changes_nothing() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.token(Role::Owner);
    for body in [json!(["x"]), json!([]), json!("x"), json!(7)] {
        s.post("/customers", owner, &body).await.assert_problem(400);
    }
    let listed = s.get("/customers", owner).await;
    assert_eq!(listed.body["items"], json!([]));

    let cid = customer(&s, &t).await;
    let (sent, _, _) = sent_estimate(&s, &t, &cid).await;
    let id = sent["id"].as_str().expect("id");
    let declined = s
        .post(&format!("/estimates/{id}/decline"), owner, &json!([]))
        .await;
    declined.assert_problem(400);
    let after = s.get(&format!("/estimates/{id}"), owner).await;
    assert_eq!(after.body["status"], "sent", "{}", after.body);
}

/// A card number typed into the portal's approve or decline form (as the name, the reason, or
/// a field's name) is refused before the portal reads the form: the estimate stays undecided
/// and no name or reason is stored.
#[tokio::test]
async fn a_card_number_in_a_portal_form_field_is_refused_and_nothing_is_stored() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let cid = customer(&s, &t).await;
    let (sent, url, _) = sent_estimate(&s, &t, &cid).await;
    let id = sent["id"].as_str().expect("id");
    let option = sent["options"][0]["id"]
        .as_str()
        .expect("option")
        .to_owned();
    let forms: [&[(&str, &str)]; 3] = [
        &[
            ("action", "approve"),
            ("option_id", &option),
            ("name", "4111 1111 1111 1111"),
            ("consent", "yes"),
        ],
        &[
            ("action", "decline"),
            ("reason", "card 4111-1111-1111-1111"),
        ],
        &[("action", "decline"), ("4111111111111111", "x")],
    ];
    for form in forms {
        let r = s.send(s.http.post(&url).form(form)).await;
        r.assert_problem(400);
    }
    let after = s
        .get(&format!("/estimates/{id}"), t.token(Role::Owner))
        .await;
    assert_eq!(after.body["status"], "sent", "{}", after.body);
    assert!(!after.body.to_string().contains("4111"), "{}", after.body);
}

/// A card number as a JSON object key (not only as a value) is refused.
#[tokio::test]
async fn a_card_number_as_a_json_key_is_refused() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.token(Role::Owner);
    let mut body = new_customer("Keyed");
    body["4111111111111111"] = json!("x");
    let r = s.post("/customers", owner, &body).await;
    r.assert_problem(400);
    assert_eq!(r.body["errors"][0]["message"], "looks like a card number");
    let listed = s.get("/customers", owner).await;
    assert_eq!(listed.body["items"], json!([]));
}
