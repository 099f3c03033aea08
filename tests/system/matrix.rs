//! Every route of the route table, as every role of two tenants; and every cross-tenant id
//! we can think of.
use std::collections::BTreeMap;

use fieldvault_core::caller::Role;
use fieldvault_core::routes::{Route, ROUTES};
use fieldvault_system_tests::{new_customer, Reply, Stack, TestTenant};
use serde_json::{json, Value};

use Role::*;

const EVERYONE: &[Role] = &[Owner, Admin, Dispatcher, Technician, Accounting];
const OFFICE: &[Role] = &[Owner, Admin, Dispatcher];
const OFFICE_AND_ACCOUNTING: &[Role] = &[Owner, Admin, Dispatcher, Accounting];
const MANAGERS: &[Role] = &[Owner, Admin];
const BILLING: &[Role] = &[Owner, Admin, Accounting];
/// Office, accounting, and the technician the fixture job is assigned to.
const WITH_ASSIGNED_TECHNICIAN: &[Role] = &[Owner, Admin, Dispatcher, Technician, Accounting];
/// Office and the assigned technician (job evidence, visit progress).
const OFFICE_AND_ASSIGNED_TECHNICIAN: &[Role] = &[Owner, Admin, Dispatcher, Technician];

/// Who may call a route: the README's API table, written out here independently of the
/// policy, so a policy or handler that drifts from it fails this test.
enum Who {
    /// Behind the authorizer: these roles pass authorization; every other role is refused.
    Roles(&'static [Role]),
    /// Public (no token): the portal, the providers' webhooks, the document.
    Public,
}

/// The matrix entry of every route, by method and path template. A route added to the route
/// table without an entry here fails `the_matrix_has_an_entry_for_every_route`.
fn who(method: &str, path: &str) -> Option<Who> {
    use Who::*;
    Some(match (method, path) {
        ("GET", "/me") => Roles(EVERYONE),
        ("GET", "/users") | ("POST", "/users") => Roles(MANAGERS),
        ("PATCH", "/users/{id}/role") => Roles(MANAGERS),
        ("POST", "/users/{id}/disable")
        | ("POST", "/users/{id}/enable")
        | ("POST", "/users/{id}/mfa/reset") => Roles(MANAGERS),
        ("PUT", "/users/{id}/hr") | ("GET", "/users/{id}/hr") => Roles(&[Owner]),
        ("POST", "/intake") | ("POST", "/customers") => Roles(OFFICE),
        ("GET", "/customers") => Roles(OFFICE_AND_ACCOUNTING),
        ("GET", "/customers/{id}") | ("GET", "/customers/{id}/timeline") => {
            Roles(WITH_ASSIGNED_TECHNICIAN)
        }
        ("PATCH", "/customers/{id}") => Roles(OFFICE),
        ("GET", "/customers/{id}/calls") => Roles(OFFICE),
        ("POST", "/customers/{id}/portal-link") => Roles(OFFICE_AND_ACCOUNTING),
        ("GET", "/audit") => Roles(MANAGERS),
        ("POST", "/estimates") | ("PATCH", "/estimates/{id}") => Roles(OFFICE),
        ("GET", "/estimates/{id}") => Roles(OFFICE_AND_ACCOUNTING),
        ("POST", "/estimates/{id}/send")
        | ("POST", "/estimates/{id}/approve")
        | ("POST", "/estimates/{id}/decline") => Roles(OFFICE),
        ("POST", "/jobs") => Roles(OFFICE),
        ("GET", "/jobs") => Roles(EVERYONE),
        ("GET", "/jobs/{id}") => Roles(WITH_ASSIGNED_TECHNICIAN),
        ("POST", "/jobs/{id}/visits") | ("PATCH", "/jobs/{id}/visits/{visit_id}") => Roles(OFFICE),
        ("POST", "/jobs/{id}/visits/{visit_id}/progress") => Roles(OFFICE_AND_ASSIGNED_TECHNICIAN),
        ("POST", "/jobs/{id}/status") => Roles(OFFICE),
        ("POST", "/jobs/{id}/evidence") | ("GET", "/jobs/{id}/evidence") => {
            Roles(OFFICE_AND_ASSIGNED_TECHNICIAN)
        }
        ("GET", "/evidence/{id}/download") => Roles(OFFICE_AND_ASSIGNED_TECHNICIAN),
        ("POST", "/invoices") | ("PATCH", "/invoices/{id}") => Roles(BILLING),
        ("GET", "/invoices/{id}") => Roles(OFFICE_AND_ACCOUNTING),
        ("POST", "/invoices/{id}/issue") | ("POST", "/invoices/{id}/void") => Roles(BILLING),
        ("POST", "/invoices/{id}/credit-notes") => Roles(BILLING),
        ("POST", "/invoices/{id}/send") => Roles(BILLING),
        ("POST", "/invoices/{id}/checkout") => Roles(OFFICE_AND_ACCOUNTING),
        ("POST", "/payments") | ("POST", "/payments/{id}/refunds") => Roles(BILLING),
        ("GET", "/payments/{id}") => Roles(OFFICE_AND_ACCOUNTING),
        ("GET", "/accounting/export") => Roles(BILLING),
        ("GET", "/tasks") => Roles(EVERYONE),
        // The fixture task follows up a lead: the office's work.
        ("POST", "/tasks/{id}/complete") | ("POST", "/tasks/{id}/snooze") => Roles(OFFICE),
        ("POST", "/links/{id}/revoke") => Roles(OFFICE_AND_ACCOUNTING),
        ("POST", "/me/mfa/totp")
        | ("POST", "/me/mfa/totp/confirm")
        | ("POST", "/me/mfa/step-up") => Roles(EVERYONE),
        ("GET", "/portal/l/{token}") | ("POST", "/portal/l/{token}") => Public,
        ("POST", "/webhooks/payments") | ("POST", "/webhooks/telephony") => Public,
        ("GET", "/openapi.json") => Public,
        _ => return None,
    })
}

/// The records of one tenant that the routes' path parameters name.
struct Fixture {
    ids: BTreeMap<&'static str, String>,
}

impl Fixture {
    async fn make(s: &Stack, t: &TestTenant) -> Fixture {
        let owner = t.token(Owner);
        let id = |r: &Reply, what: &str| -> String {
            assert!(r.status < 300, "{what}: {} {}", r.status, r.body);
            r.body["id"].as_str().expect("id").to_owned()
        };
        let customer = s
            .post("/customers", owner, &new_customer("Matrix Customer"))
            .await;
        let customer = id(&customer, "customer");
        let estimate = s
            .post("/estimates", owner, &json!({"customer_id": customer, "title": "Matrix", "valid_until": "2999-01-01",
                "options": [{"name": "Only", "lines": [{"description": "Work", "quantity": "1", "unit_price_minor": 1000}]}]}))
            .await;
        let estimate = id(&estimate, "estimate");
        let job = s
            .post("/jobs", owner, &json!({"customer_id": customer, "title": "Matrix job", "scope": [{"description": "Diagnose", "quantity": "1"}]}))
            .await;
        let job = id(&job, "job");
        let start = time::OffsetDateTime::now_utc() + time::Duration::days(1);
        let fmt = &time::format_description::well_known::Rfc3339;
        let visit = s
            .post(
                &format!("/jobs/{job}/visits"),
                owner,
                &json!({
                "window_start": start.format(fmt).expect("time"),
                "window_end": (start + time::Duration::hours(2)).format(fmt).expect("time"),
                "technician_id": t.user(Technician).id}),
            )
            .await;
        assert_eq!(visit.status, 200, "visit: {}", visit.body);
        let visit = visit.body["visits"][0]["id"]
            .as_str()
            .expect("visit id")
            .to_owned();
        let evidence = s
            .post(
                &format!("/jobs/{job}/evidence"),
                owner,
                &json!({"kind": "photo", "content_type": "image/jpeg", "size_bytes": 100}),
            )
            .await;
        assert_eq!(evidence.status, 201, "evidence: {}", evidence.body);
        let evidence = evidence.body["evidence"]["id"]
            .as_str()
            .or_else(|| evidence.body["id"].as_str())
            .expect("evidence id")
            .to_owned();
        let invoice = s
            .post("/invoices", owner, &json!({"customer_id": customer, "lines": [{"description": "Service call", "quantity": "1", "unit_price_minor": 12900, "tax_rate": "0"}]}))
            .await;
        let invoice = id(&invoice, "invoice");
        let intake = s
            .post("/intake", owner, &json!({"source": "call", "contact": {"name": "Matrix Lead", "email": format!("lead-{}@example.com", ulid::Ulid::new())}}))
            .await;
        assert_eq!(intake.status, 201, "intake: {}", intake.body);
        let task = intake.body["follow_up"]["id"]
            .as_str()
            .expect("task id")
            .to_owned();
        let link = s
            .call(
                "POST",
                &format!("/customers/{customer}/portal-link"),
                Some(owner),
                None,
            )
            .await;
        assert_eq!(link.status, 201, "link: {}", link.body);
        let link = link.body["link_id"].as_str().expect("link id").to_owned();
        let ids = BTreeMap::from([
            ("customer", customer),
            ("estimate", estimate),
            ("job", job),
            ("visit", visit),
            ("evidence", evidence),
            ("invoice", invoice),
            ("task", task),
            ("link", link),
            // A user other than any caller's own self for most roles: the dispatcher.
            ("user", t.user(Dispatcher).id.to_string()),
            // No payment is made here (that needs the provider): the id names none, so every
            // role that passes authorization gets a 404 (payments::money_routes_by_role
            // covers real payments).
            ("payment", ulid::Ulid::new().to_string()),
        ]);
        Fixture { ids }
    }

    /// The concrete path of a route template, with this tenant's records.
    fn path(&self, template: &str) -> String {
        let kind = match template.split('/').nth(1) {
            Some("customers") => "customer",
            Some("estimates") => "estimate",
            Some("jobs") => "job",
            Some("evidence") => "evidence",
            Some("invoices") => "invoice",
            Some("tasks") => "task",
            Some("links") => "link",
            Some("users") => "user",
            Some("payments") => "payment",
            _ => "",
        };
        template
            .split('/')
            .map(|segment| match segment {
                "{id}" => self.ids[kind].clone(),
                "{visit_id}" => self.ids["visit"].clone(),
                other => other.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The body a route is called with: the original cases' real bodies; `{}` for the rest (the
/// handlers authorize before they read a body, so a refusal comes first).
fn body(r: &Route) -> Option<Value> {
    match (r.method, r.path) {
        ("POST", "/customers") => Some(new_customer("Matrix Customer")),
        ("POST", "/intake") => Some(
            json!({"source": "call", "contact": {"name": "Matrix", "email": format!("m-{}@example.com", ulid::Ulid::new())}}),
        ),
        ("PATCH", "/customers/{id}") => Some(json!({"notes": "matrix"})),
        // User management reads its body before it authorizes: a complete one.
        ("POST", "/users") => Some(
            json!({"email": format!("m-{}@example.com", ulid::Ulid::new()), "name": "Matrix", "role": "dispatcher"}),
        ),
        ("PATCH", "/users/{id}/role") => Some(json!({"role": "technician"})),
        ("POST", "/jobs/{id}/evidence") => {
            Some(json!({"kind": "photo", "content_type": "image/jpeg", "size_bytes": 100}))
        }
        _ if r.request.is_some() => Some(json!({})),
        _ => None,
    }
}

/// The exact success of routes whose call here is a complete, valid request.
fn success(r: &Route) -> Option<u16> {
    match (r.method, r.path) {
        (
            "GET",
            "/me" | "/users" | "/customers" | "/customers/{id}" | "/audit" | "/jobs" | "/tasks",
        ) => Some(200),
        ("POST", "/intake" | "/customers") => Some(201),
        ("PATCH", "/customers/{id}") => Some(200),
        _ => None,
    }
}

fn query(r: &Route) -> &'static str {
    match r.path {
        "/accounting/export" => "?from=2026-01-01&to=2026-01-31",
        _ => "",
    }
}

/// The tenant's whole audit trail, page by page (the matrix writes more than one page).
async fn whole_audit(s: &Stack, t: &TestTenant) -> Vec<Value> {
    let mut records = Vec::new();
    let mut path = "/audit?limit=100".to_owned();
    for _ in 0..50 {
        let page = s.get(&path, t.token(Owner)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        records.extend(page.body["items"].as_array().cloned().unwrap_or_default());
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/audit?limit=100&cursor={cursor}"),
            None => return records,
        }
    }
    panic!("the audit trail did not end within 50 pages");
}

#[test]
fn the_matrix_has_an_entry_for_every_route() {
    let missing: Vec<String> = ROUTES
        .iter()
        .filter(|r| who(r.method, r.path).is_none())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a matrix entry (add them to `who` in tests/system/matrix.rs): {missing:?}"
    );
    for r in ROUTES {
        assert_eq!(
            matches!(who(r.method, r.path), Some(Who::Public)),
            !r.authenticated,
            "{} {}: public in the matrix exactly when the route has no authorizer",
            r.method,
            r.path
        );
    }
}

#[tokio::test]
async fn every_route_for_every_role_of_two_tenants() {
    let s = Stack::connect().await;
    let tenants = [s.tenant().await, s.tenant().await];
    let fixtures = [
        Fixture::make(&s, &tenants[0]).await,
        Fixture::make(&s, &tenants[1]).await,
    ];
    let mut wrong = Vec::new();
    for (t, fixture) in tenants.iter().zip(&fixtures) {
        for r in ROUTES {
            let path = format!("{}{}", fixture.path(r.path), query(r));
            let Some(Who::Roles(allowed)) = who(r.method, r.path) else {
                // Public: a token changes nothing, and no role is refused (403).
                for role in Role::ALL {
                    let reply = s
                        .call(r.method, &path, Some(t.token(role)), body(r).as_ref())
                        .await;
                    assert_ne!(reply.status, 403, "{} {path} as {role}", r.method);
                    assert!(
                        reply.status < 500,
                        "{} {path} as {role}: {}",
                        r.method,
                        reply.status
                    );
                    // Portal pages carry their own CSP (portal::* checks them).
                    if !r.path.starts_with("/portal/") {
                        reply.assert_security_headers();
                    }
                }
                continue;
            };
            for role in Role::ALL {
                let reply = s
                    .call(r.method, &path, Some(t.token(role)), body(r).as_ref())
                    .await;
                let what = format!(
                    "{} {path} as {role}: {} {}",
                    r.method, reply.status, reply.body
                );
                if allowed.contains(&role) {
                    match success(r) {
                        Some(ok) => assert_eq!(reply.status, ok, "{what}"),
                        // Past authorization: the handler's own answer (a step-up request,
                        // an invalid `{}` body, a state conflict, an absent payment), never a
                        // refusal, never a failure of ours.
                        None => {
                            assert_ne!(reply.status, 403, "{what}");
                            assert!(reply.status < 500, "{what}");
                            if reply.status == 401 {
                                assert!(
                                    reply.body["step_up"].is_string()
                                        || r.path.starts_with("/me/mfa/"),
                                    "{what}"
                                );
                            }
                        }
                    }
                    reply.assert_security_headers();
                } else {
                    // A task of a kind a role does not work is invisible to it; an absent
                    // payment is not found for the roles the data layer lets look; every
                    // other refusal is a 403.
                    let invisible = r.path.starts_with("/tasks/")
                        || (r.path.starts_with("/payments/") && role != Technician);
                    let expected = if invisible && reply.status == 404 {
                        404
                    } else {
                        403
                    };
                    if reply.status != expected {
                        // Every wrong refusal of the run, not only the first.
                        wrong.push(what);
                        continue;
                    }
                    reply.assert_problem(expected);
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "refused roles not answered 403:\n{}",
            wrong.join("\n")
        );
        // Every refusal is in the audit trail, with who and what.
        let audit = whole_audit(&s, t).await;
        let denied: Vec<&Value> = audit.iter().filter(|r| r["outcome"] == "denied").collect();
        assert!(denied
            .iter()
            .any(|r| r["actor_role"] == "technician" && r["action"] == "customer.list"));
        assert!(denied
            .iter()
            .any(|r| r["actor_role"] == "accounting" && r["action"] == "customer.update"));
        assert!(denied
            .iter()
            .any(|r| r["actor_role"] == "dispatcher" && r["action"] == "audit.list"));
        assert!(denied
            .iter()
            .all(|r| r["reason"].is_string() && r["request_id"].is_string()));
    }
    // The other tenant's records, by id, as this tenant's owner: not found, or refused before
    // any lookup (a step-up request, or the `{}` body's 400); never answered.
    let (a, b) = (&tenants[0], &fixtures[1]);
    for r in ROUTES
        .iter()
        .filter(|r| r.authenticated && r.path.contains('{'))
    {
        let path = format!("{}{}", b.path(r.path), query(r));
        let reply = s
            .call(r.method, &path, Some(a.token(Owner)), body(r).as_ref())
            .await;
        let what = format!("{} {path}: {} {}", r.method, reply.status, reply.body);
        match reply.status {
            401 => assert!(reply.body["step_up"].is_string(), "{what}"),
            400 => assert!(r.request.is_some(), "{what}"),
            _ => assert_eq!(reply.status, 404, "{what}"),
        }
        reply.assert_problem(reply.status);
    }
}

#[tokio::test]
async fn cross_tenant_ids_in_paths_and_bodies_reach_nothing() {
    let s = Stack::connect().await;
    let a = s.tenant().await;
    let b = s.tenant().await;
    let theirs = s
        .post(
            "/customers",
            b.token(Owner),
            &new_customer("Their Customer"),
        )
        .await;
    let their_id = theirs.body["id"].as_str().expect("id").to_owned();
    let their_phone = theirs.body["contact_points"][0]["value"]
        .as_str()
        .expect("phone")
        .to_owned();

    for role in Role::ALL {
        let token = a.token(role);
        s.get(&format!("/customers/{their_id}"), token)
            .await
            .assert_problem(404);
        s.patch(
            &format!("/customers/{their_id}"),
            token,
            &json!({"name": "Hijacked"}),
        )
        .await
        .assert_problem(404);
    }
    // Their id in a body is refused as an unknown or foreign reference, never followed.
    let with_id = s
        .post(
            "/customers",
            a.token(Owner),
            &json!({"name": "X", "id": their_id}),
        )
        .await;
    with_id.assert_problem(400);
    let foreign_location = s
        .patch(
            &format!("/customers/{}", s.post("/customers", a.token(Owner), &new_customer("Mine")).await.body["id"].as_str().expect("id")),
            a.token(Owner),
            &json!({"service_locations": [{"id": theirs.body["service_locations"][0]["id"], "address": {"line1": "x", "city": "y", "region": "z", "postal_code": "1"}}]}),
        )
        .await;
    foreign_location.assert_problem(400);
    // Their customer's phone is free in our tenant: intake does not match across tenants.
    let intake = s
        .post(
            "/intake",
            a.token(Dispatcher),
            &json!({"source": "call", "contact": {"name": "Same Phone", "phone": their_phone}}),
        )
        .await;
    assert_eq!(intake.status, 201);
    assert_eq!(intake.body["matched_existing_customer"], false);
    assert_ne!(intake.body["customer"]["id"], their_id.as_str());

    let unchanged = s
        .get(&format!("/customers/{their_id}"), b.token(Owner))
        .await;
    assert_eq!(unchanged.body["name"], "Their Customer");
    assert_eq!(unchanged.body["version"], 1);
}
