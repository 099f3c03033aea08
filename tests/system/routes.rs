//! One source of routes: template.yaml, the code's route list, the function crates and the
//! OpenAPI document agree; unknown routes get problem+json with the security headers.
use std::collections::BTreeSet;

use fieldvault_core::routes::ROUTES;
use fieldvault_core::template::Template;
use fieldvault_system_tests::Stack;

fn template_routes() -> BTreeSet<(String, String, String, bool)> {
    Template::embedded()
        .expect("template")
        .http_routes()
        .into_iter()
        .collect()
}

#[test]
fn template_routes_equal_the_code_routes() {
    let code: BTreeSet<(String, String, String, bool)> = ROUTES
        .iter()
        .map(|r| {
            (
                r.function.to_owned(),
                r.method.to_owned(),
                r.path.to_owned(),
                r.authenticated,
            )
        })
        .collect();
    assert_eq!(template_routes(), code);
}

#[test]
fn every_function_crate_has_a_template_function_and_route_and_back() {
    let t = Template::embedded().expect("template");
    let dirs: BTreeSet<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/functions"))
            .expect("functions/")
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("Cargo.toml").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
    let mut from_template = BTreeSet::new();
    for (id, f) in t.resources_of_type("AWS::Serverless::Function") {
        let code_uri = f["Properties"]["CodeUri"].as_str().expect("CodeUri");
        let dir = code_uri
            .strip_prefix("functions/")
            .expect("functions live under functions/");
        assert_eq!(
            f["Metadata"]["BuildProperties"]["Binary"],
            format!("fv-{dir}"),
            "{id} builds its own binary"
        );
        assert!(
            template_routes().iter().any(|(fid, ..)| fid == id),
            "{id} has no HttpApi route"
        );
        from_template.insert(dir.to_owned());
    }
    assert_eq!(
        dirs, from_template,
        "function crates and template functions differ"
    );
    let routed: BTreeSet<&str> = ROUTES.iter().map(|r| r.crate_dir).collect();
    assert_eq!(routed, dirs.iter().map(String::as_str).collect());
}

/// Every statement the template grants an execution role (inline and attached policies).
fn role_statements(t: &Template, role: &str) -> Vec<serde_json::Value> {
    t.role_policy(role).expect("role policy")["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn function_roles_hold_no_data_permissions() {
    let t = Template::embedded().expect("template");
    let roles: BTreeSet<String> = t
        .resources_of_type("AWS::IAM::Role")
        .map(|(id, _)| id.clone())
        .filter(|id| id != "TenantDataRole")
        .collect();
    assert_eq!(
        roles,
        [
            "FunctionRole",
            "UserAdminFunctionRole",
            "PortalFunctionRole",
            "PaymentWebhookFunctionRole",
            "TelephonyWebhookFunctionRole",
            "OperatorRole",
        ]
        .map(String::from)
        .into(),
    );
    // No data permission anywhere, except the portal's one lookup of link records.
    for role in &roles {
        for st in role_statements(&t, role) {
            let text = st.to_string();
            let data = ["dynamodb:", "kms:", "s3:"]
                .iter()
                .any(|p| text.contains(p));
            if !data {
                continue;
            }
            assert_eq!(role, "PortalFunctionRole", "{role} grants data: {st}");
            assert_eq!(st["Sid"], "LookUpLinks", "{st}");
            assert_eq!(st["Effect"], "Allow");
            assert_eq!(st["Action"], "dynamodb:GetItem", "GetItem only: {st}");
            assert_eq!(st["Resource"][0]["Fn::GetAtt"][0], "DataTable");
            assert_eq!(st["Resource"].as_array().map(Vec::len), Some(1), "no index");
            assert_eq!(
                st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
                serde_json::json!(["T#*#LINK#*"])
            );
            assert_eq!(st["Condition"]["Null"]["dynamodb:LeadingKeys"], "false");
        }
        let cognito = role_statements(&t, role)
            .into_iter()
            .filter(|s| s.to_string().contains("cognito-idp:"))
            .collect::<Vec<_>>();
        if role != "UserAdminFunctionRole" {
            assert!(cognito.is_empty(), "{role} reaches Cognito");
            continue;
        }
        assert_eq!(cognito.len(), 1, "one Cognito statement");
        assert_eq!(
            cognito[0]["Resource"]["Fn::GetAtt"][0], "UserPool",
            "only this stack's pool"
        );
        let mut actions: Vec<&str> = cognito[0]["Action"]
            .as_array()
            .expect("actions")
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        actions.sort_unstable();
        assert_eq!(
            actions,
            [
                "cognito-idp:AdminAddUserToGroup",
                "cognito-idp:AdminCreateUser",
                "cognito-idp:AdminDisableUser",
                "cognito-idp:AdminEnableUser",
                "cognito-idp:AdminGetUser",
                "cognito-idp:AdminRemoveUserFromGroup",
                "cognito-idp:AdminUserGlobalSignOut",
            ]
        );
    }
    // Each function runs as its class's role.
    let class = |id: &str| match id {
        "InviteUserFunction"
        | "ChangeUserRoleFunction"
        | "DisableUserFunction"
        | "EnableUserFunction" => "UserAdminFunctionRole",
        "PortalPageFunction" | "PortalActionFunction" => "PortalFunctionRole",
        "PaymentWebhookFunction" => "PaymentWebhookFunctionRole",
        "TelephonyWebhookFunction" => "TelephonyWebhookFunctionRole",
        _ => "FunctionRole",
    };
    for (id, f) in t.resources_of_type("AWS::Serverless::Function") {
        let expected = class(id);
        assert_eq!(
            t.function_role(id).expect("role"),
            expected,
            "{id} uses {expected}"
        );
        assert!(
            f["Properties"]["Policies"].is_null(),
            "{id} adds no policies"
        );
    }
}

/// Every unauthenticated route has its own throttle, below the stage default, and its
/// function a reserved concurrency: a flood on a public route cannot take the staff API's.
#[test]
fn public_routes_are_throttled_and_their_functions_bounded() {
    let t = Template::embedded().expect("template");
    let api = &t.resource("HttpApi").expect("api")["Properties"];
    let default_rate = api["DefaultRouteSettings"]["ThrottlingRateLimit"]
        .as_f64()
        .expect("stage rate");
    let mut public = 0;
    for (function, method, path, authenticated) in t.http_routes() {
        if authenticated {
            continue;
        }
        public += 1;
        let settings = &api["RouteSettings"][format!("{method} {path}")];
        let rate = settings["ThrottlingRateLimit"].as_f64();
        let burst = settings["ThrottlingBurstLimit"].as_f64();
        assert!(
            rate.is_some_and(|r| r > 0.0 && r < default_rate) && burst.is_some_and(|b| b > 0.0),
            "{method} {path} has no throttle of its own"
        );
        let reserved = t.resource(&function).expect("function")["Properties"]
            ["ReservedConcurrentExecutions"]
            .as_u64();
        assert!(
            reserved.is_some_and(|n| (1..=20).contains(&n)),
            "{function} has no reserved concurrency"
        );
    }
    assert_eq!(
        public, 5,
        "portal page and form, two webhooks, the OpenAPI document"
    );
}

#[tokio::test]
async fn openapi_is_generated_served_and_matches_the_template() {
    let s = Stack::connect().await;
    let r = s.call("GET", "/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    r.assert_security_headers();
    assert_eq!(r.body["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in r.body["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("operations").keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let declared: BTreeSet<(String, String)> = template_routes()
        .into_iter()
        .map(|(_, m, p, _)| (m, p))
        .collect();
    assert_eq!(documented, declared);
    assert!(r.body["components"]["schemas"]["NewCustomer"].is_object());
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_with_headers() {
    let s = Stack::connect().await;
    s.call("GET", "/nope", None, None).await.assert_problem(404);
    let wrong_method = s.call("DELETE", "/customers", None, None).await;
    wrong_method.assert_problem(405);
    assert_eq!(
        wrong_method
            .headers
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("GET, POST"),
        "405 names the methods the path serves"
    );
    let on_a_record = s
        .call("PUT", "/customers/01ARZ3NDEKTSV4RRFFQ69G5FAV", None, None)
        .await;
    on_a_record.assert_problem(405);
    assert_eq!(
        on_a_record
            .headers
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("GET, PATCH")
    );
    s.call("GET", "/customers", Some("x"), None)
        .await
        .assert_problem(401);
}

#[test]
fn the_guard_evaluates_exactly_the_templates_tenant_policy() {
    // Read template.yaml from disk (not the copy compiled into the binaries), so a guard built
    // from a stale or different policy fails here.
    let on_disk = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
        .expect("template.yaml");
    let template = Template::parse(&on_disk).expect("parses");
    let names = fieldvault_aws::guard::LocalNames {
        region: "us-east-1".into(),
        stack_name: "drift-check".into(),
        kms_key_id: "key-1".into(),
    };
    let expected = names
        .bindings(&template)
        .resolve(template.tenant_policy().expect("policy"))
        .expect("resolves");
    let guard = fieldvault_aws::guard::PolicyGuard::from_template(
        &Template::embedded().expect("embedded"),
        &names,
    )
    .expect("guard");
    assert_eq!(
        guard.source(),
        &expected,
        "the guard and template.yaml disagree"
    );
    let sids: Vec<&str> = expected["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .filter_map(|s| s["Sid"].as_str())
        .collect();
    for sid in [
        "TenantItems",
        "AuditAppendOnly",
        "NoTableWideAccess",
        "TechniciansNeverBillingOrLists",
        "TenantKeyUse",
    ] {
        assert!(sids.contains(&sid), "{sid} missing from the tenant policy");
    }
}
