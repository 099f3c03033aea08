//! Two tenants × five roles over every route, and every cross-tenant id we can think of.
use fieldvault_core::caller::Role;
use fieldvault_system_tests::{new_customer, Reply, Stack, TestTenant};
use serde_json::{json, Value};

use Role::*;

struct Case {
    method: &'static str,
    path: String,
    body: Option<Value>,
    allowed: &'static [Role],
    ok: u16,
}

fn cases(customer: &str) -> Vec<Case> {
    let intake =
        json!({"source": "call", "contact": {"name": "Matrix", "email": "matrix@example.com"}});
    vec![
        Case {
            method: "GET",
            path: "/me".into(),
            body: None,
            allowed: &[Owner, Admin, Dispatcher, Technician, Accounting],
            ok: 200,
        },
        Case {
            method: "GET",
            path: "/users".into(),
            body: None,
            allowed: &[Owner, Admin],
            ok: 200,
        },
        Case {
            method: "POST",
            path: "/intake".into(),
            body: Some(intake),
            allowed: &[Owner, Admin, Dispatcher],
            ok: 201,
        },
        Case {
            method: "POST",
            path: "/customers".into(),
            body: None,
            allowed: &[Owner, Admin, Dispatcher],
            ok: 201,
        },
        Case {
            method: "GET",
            path: "/customers".into(),
            body: None,
            allowed: &[Owner, Admin, Dispatcher, Accounting],
            ok: 200,
        },
        Case {
            method: "GET",
            path: format!("/customers/{customer}"),
            body: None,
            allowed: &[Owner, Admin, Dispatcher, Accounting],
            ok: 200,
        },
        Case {
            method: "PATCH",
            path: format!("/customers/{customer}"),
            body: Some(json!({"notes": "matrix"})),
            allowed: &[Owner, Admin, Dispatcher],
            ok: 200,
        },
        Case {
            method: "GET",
            path: "/audit".into(),
            body: None,
            allowed: &[Owner, Admin],
            ok: 200,
        },
        Case {
            method: "GET",
            path: "/openapi.json".into(),
            body: None,
            allowed: &[Owner, Admin, Dispatcher, Technician, Accounting],
            ok: 200,
        },
    ]
}

async fn run(s: &Stack, t: &TestTenant, case: &Case, role: Role) -> Reply {
    // Creating POSTs get a fresh body each time: contact points are unique per tenant.
    let body = match (&case.body, case.path.as_str()) {
        (None, "/customers") if case.method == "POST" => Some(new_customer("Matrix Customer")),
        (b, _) => b.clone(),
    };
    s.call(case.method, &case.path, Some(t.token(role)), body.as_ref())
        .await
}

#[tokio::test]
async fn every_route_for_every_role_of_two_tenants() {
    let s = Stack::connect().await;
    let tenants = [s.tenant().await, s.tenant().await];
    for t in &tenants {
        let customer = s
            .post("/customers", t.token(Owner), &new_customer("Own Customer"))
            .await;
        assert_eq!(customer.status, 201);
        let customer_id = customer.body["id"].as_str().expect("id").to_owned();
        for case in cases(&customer_id) {
            for role in Role::ALL {
                let r = run(&s, t, &case, role).await;
                if case.allowed.contains(&role) {
                    assert_eq!(
                        r.status, case.ok,
                        "{} {} as {role}: {}",
                        case.method, case.path, r.body
                    );
                    r.assert_security_headers();
                } else {
                    r.assert_problem(403);
                }
            }
        }
        // Every refusal is in the audit trail, with who and what.
        let audit = s.audit(t).await;
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
