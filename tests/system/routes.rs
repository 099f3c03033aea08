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

#[test]
fn function_roles_hold_no_data_permissions() {
    let t = Template::embedded().expect("template");
    // The user-management functions' role is FunctionRole plus Cognito admin actions on the
    // stack's pool; neither holds any data permission.
    for name in ["FunctionRole", "UserAdminFunctionRole"] {
        let role = t.resource(name).expect(name);
        let text = role.to_string();
        for forbidden in ["dynamodb:", "kms:", "s3:"] {
            assert!(!text.contains(forbidden), "{name} grants {forbidden}");
        }
    }
    let plain = t
        .resource("FunctionRole")
        .expect("FunctionRole")
        .to_string();
    assert!(
        !plain.contains("cognito-idp:"),
        "FunctionRole reaches Cognito"
    );
    let admin = t
        .resource("UserAdminFunctionRole")
        .expect("UserAdminFunctionRole");
    let statements = admin["Properties"]["Policies"]
        .as_array()
        .expect("policies")
        .iter()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect::<Vec<_>>();
    let cognito: Vec<&serde_json::Value> = statements
        .iter()
        .filter(|s| s.to_string().contains("cognito-idp:"))
        .collect();
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
    let user_admin = [
        "InviteUserFunction",
        "ChangeUserRoleFunction",
        "DisableUserFunction",
        "EnableUserFunction",
    ];
    for (id, f) in t.resources_of_type("AWS::Serverless::Function") {
        let expected = if user_admin.contains(&id.as_str()) {
            "UserAdminFunctionRole"
        } else {
            "FunctionRole"
        };
        assert_eq!(
            f["Properties"]["Role"]["Fn::GetAtt"][0], expected,
            "{id} uses {expected}"
        );
        assert!(
            f["Properties"]["Policies"].is_null(),
            "{id} adds no policies"
        );
    }
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
