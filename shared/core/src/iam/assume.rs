//! What STS decides for an `AssumeRole` with session tags, for the local stack (moto's STS
//! applies no policy at all). One call is authorized as two requests, `sts:AssumeRole` and,
//! because it passes tags, `sts:TagSession`, both on the role being assumed, with the tags in
//! the request context (`aws:RequestTag/<key>`, `aws:TagKeys`) and the caller's ARN
//! (`aws:PrincipalArn`). Each must be allowed by the role's trust policy and by the caller's
//! own identity policy, and denied by neither. (Within one account IAM lets a trust policy
//! that names the caller's role ARN stand in for the identity policy; requiring both is
//! stricter, and the template grants both.)
use std::collections::{BTreeMap, HashMap};

use super::policy::{AuthzRequest, Decision, PolicyDocument};

/// The requests one tagged `AssumeRole` of `role_arn` by `principal_arn` is authorized as.
pub fn assume_role_requests(
    role_arn: &str,
    principal_arn: &str,
    tags: &BTreeMap<String, String>,
) -> Vec<AuthzRequest> {
    let mut context: BTreeMap<String, Vec<String>> = tags
        .iter()
        .map(|(k, v)| (format!("aws:RequestTag/{k}"), vec![v.clone()]))
        .collect();
    context.insert("aws:TagKeys".into(), tags.keys().cloned().collect());
    context.insert("aws:PrincipalArn".into(), vec![principal_arn.to_owned()]);
    ["sts:AssumeRole", "sts:TagSession"]
        .into_iter()
        .map(|action| AuthzRequest {
            action: action.into(),
            resource: role_arn.to_owned(),
            context: context.clone(),
        })
        .collect()
}

/// The principals that may ask for sessions of one role, and the role's trust policy.
#[derive(Debug, Clone)]
pub struct AssumeRoleCheck {
    role_arn: String,
    trust: PolicyDocument,
    /// Execution role (template logical id) → (its ARN, its identity policy).
    callers: HashMap<String, (String, PolicyDocument)>,
}

impl AssumeRoleCheck {
    pub fn new(
        role_arn: String,
        trust: PolicyDocument,
        callers: HashMap<String, (String, PolicyDocument)>,
    ) -> Self {
        Self {
            role_arn,
            trust,
            callers,
        }
    }

    /// Whether `caller` (an execution role's logical id) may assume the role with `tags`;
    /// the refusal says which policy refused, as STS's message would.
    pub fn decide(&self, caller: &str, tags: &BTreeMap<String, String>) -> Result<(), String> {
        let (caller_arn, identity) = self
            .callers
            .get(caller)
            .ok_or_else(|| format!("{caller} is not a role of this stack"))?;
        let none = BTreeMap::new();
        for request in assume_role_requests(&self.role_arn, caller_arn, tags) {
            for (policy, which) in [(identity, "identity-based"), (&self.trust, "trust")] {
                match policy.evaluate(&request, &none) {
                    Decision::Allow { .. } => {}
                    Decision::ExplicitDeny { sid } => {
                        return Err(format!(
                            "{caller_arn} is not authorized to perform {} on {} with an explicit deny in a {which} policy (statement {})",
                            request.action,
                            self.role_arn,
                            sid.unwrap_or_default()
                        ))
                    }
                    Decision::ImplicitDeny => {
                        return Err(format!(
                            "{caller_arn} is not authorized to perform {} on {}: no {which} policy allows it",
                            request.action, self.role_arn
                        ))
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Bindings, Template};

    const ACCOUNT: &str = "123456789012";

    fn arn(id: &str) -> String {
        format!("arn:aws:iam::{ACCOUNT}:role/unit-{id}")
    }

    /// The template's tenant role trust and every execution role's policies, resolved.
    fn check() -> AssumeRoleCheck {
        let t = Template::embedded().expect("template");
        let mut b = Bindings::default();
        for (k, v) in [
            ("AWS::Region", "us-east-1"),
            ("AWS::AccountId", ACCOUNT),
            ("AWS::Partition", "aws"),
            ("AWS::StackName", "unit"),
        ] {
            b.refs.insert(k.into(), v.into());
        }
        for (id, _) in t.resources() {
            b.attrs.insert(format!("{id}.Arn"), arn(id));
            b.refs.insert(id.clone(), id.clone());
        }
        let trust = PolicyDocument::trust_from_json(
            &b.resolve(t.trust_policy("TenantDataRole").expect("trust"))
                .expect("resolves"),
        )
        .expect("trust parses");
        let callers = t
            .resources_of_type("AWS::IAM::Role")
            .filter(|(id, _)| id.as_str() != "TenantDataRole")
            .map(|(id, _)| {
                let doc = b
                    .resolve(&t.role_policy(id).expect("policy"))
                    .expect("resolves");
                let policy = PolicyDocument::from_json(&doc).expect("policy parses");
                (id.clone(), (arn(id), policy))
            })
            .collect();
        AssumeRoleCheck::new(arn("TenantDataRole"), trust, callers)
    }

    fn tags(tenant: &str, role: &str, user: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("tenant_id".into(), tenant.into()),
            ("role".into(), role.into()),
            ("user".into(), user.into()),
        ])
    }

    const SESSION_ROLES: [&str; 8] = [
        "owner",
        "admin",
        "dispatcher",
        "technician",
        "accounting",
        "customer",
        "payment_provider",
        "telephony_provider",
    ];

    /// Each execution role gets exactly its class's session roles; every other is refused.
    #[test]
    fn each_execution_role_may_ask_only_for_its_own_session_roles() {
        let c = check();
        let staff = &SESSION_ROLES[..5];
        let expected: [(&str, &[&str]); 6] = [
            ("FunctionRole", staff),
            ("UserAdminFunctionRole", staff),
            ("PortalFunctionRole", &["customer"]),
            ("PaymentWebhookFunctionRole", &["payment_provider"]),
            ("TelephonyWebhookFunctionRole", &["telephony_provider"]),
            ("OperatorRole", &["owner"]),
        ];
        for (caller, allowed) in expected {
            for role in SESSION_ROLES {
                let user = if caller == "OperatorRole" {
                    "platform-operator"
                } else {
                    "u-1"
                };
                let got = c.decide(caller, &tags("acme-hvac", role, user));
                assert_eq!(
                    got.is_ok(),
                    allowed.contains(&role),
                    "{caller} asking for {role}: {got:?}"
                );
            }
        }
        // The operator opens owner sessions only as platform-operator.
        assert!(c
            .decide("OperatorRole", &tags("acme-hvac", "owner", "u-1"))
            .is_err());
    }

    /// Only the stack's execution roles are trusted: not the tenant role itself, not
    /// another role of the account, not the account root.
    #[test]
    fn only_the_execution_roles_are_trusted() {
        let c = check();
        let ok = tags("acme-hvac", "owner", "u-1");
        assert!(c.decide("FunctionRole", &ok).is_ok());
        assert!(c.decide("TenantDataRole", &ok).is_err());
        assert!(c.decide("SomeOtherRole", &ok).is_err());
        let requests = assume_role_requests(
            &arn("TenantDataRole"),
            &format!("arn:aws:iam::{ACCOUNT}:root"),
            &ok,
        );
        assert!(requests
            .iter()
            .all(|r| !c.trust.evaluate(r, &BTreeMap::new()).is_allowed()));
        let requests = assume_role_requests(
            &arn("TenantDataRole"),
            &format!("arn:aws:iam::{ACCOUNT}:role/intruder"),
            &ok,
        );
        assert!(requests
            .iter()
            .all(|r| !c.trust.evaluate(r, &BTreeMap::new()).is_allowed()));
    }

    /// Sessions carry exactly tenant_id, role and user: a missing or extra tag is refused.
    #[test]
    fn sessions_carry_exactly_tenant_role_and_user() {
        let c = check();
        let mut missing_user = tags("acme-hvac", "owner", "u-1");
        missing_user.remove("user");
        assert!(c.decide("FunctionRole", &missing_user).is_err());
        let mut missing_tenant = tags("acme-hvac", "owner", "u-1");
        missing_tenant.remove("tenant_id");
        assert!(c.decide("FunctionRole", &missing_tenant).is_err());
        let mut extra = tags("acme-hvac", "owner", "u-1");
        extra.insert("department".into(), "hr".into());
        assert!(c.decide("FunctionRole", &extra).is_err());
        let mut upper = BTreeMap::new();
        upper.insert("Tenant_ID".into(), "acme-hvac".into());
        upper.insert("role".into(), "owner".into());
        upper.insert("user".into(), "u-1".into());
        assert!(c.decide("FunctionRole", &upper).is_err());
    }

    /// The tenant tag must be a tenant id: what STS would accept but a tenant id cannot be
    /// (upper case, `/`, `.`, `_`, a leading digit or dash, under 3 or over 40) is refused.
    #[test]
    fn the_tenant_tag_must_be_a_tenant_id() {
        let c = check();
        for good in ["acme", "acme-hvac-2", "t-01jabc", "abc", &"a".repeat(40)] {
            assert!(
                c.decide("FunctionRole", &tags(good, "owner", "u-1"))
                    .is_ok(),
                "{good} refused"
            );
            assert!(crate::ids::TenantId::parse(good).is_ok());
        }
        for bad in [
            "Acme",
            "acmE",
            "acme/calls",
            "acme.x",
            "acme_x",
            "acme:x",
            "acme=x",
            "acme+x",
            "acme@x",
            "acme x",
            "1acme",
            "-acme",
            "ab",
            "a",
            "",
            &"a".repeat(41),
        ] {
            assert!(
                c.decide("FunctionRole", &tags(bad, "owner", "u-1"))
                    .is_err(),
                "{bad:?} accepted"
            );
            assert!(crate::ids::TenantId::parse(bad).is_err());
        }
    }

    #[test]
    fn trust_policies_parse_principals_and_refuse_what_they_cannot_evaluate() {
        let doc = |st: serde_json::Value| {
            PolicyDocument::trust_from_json(
                &serde_json::json!({"Version": "2012-10-17", "Statement": [st]}),
            )
        };
        let p = doc(serde_json::json!({"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole"}))
            .expect("account id");
        let req = |who: &str| AuthzRequest {
            action: "sts:AssumeRole".into(),
            resource: "arn:aws:iam::123456789012:role/x".into(),
            context: BTreeMap::from([("aws:PrincipalArn".into(), vec![who.to_owned()])]),
        };
        let none = BTreeMap::new();
        assert!(p
            .evaluate(&req("arn:aws:iam::123456789012:role/any"), &none)
            .is_allowed());
        assert!(!p
            .evaluate(&req("arn:aws:iam::999999999999:role/any"), &none)
            .is_allowed());
        let service = doc(serde_json::json!({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}))
            .expect("service");
        assert!(!service
            .evaluate(&req("arn:aws:iam::123456789012:role/any"), &none)
            .is_allowed());
        for bad in [
            serde_json::json!({"Effect": "Allow", "NotPrincipal": {"AWS": "*"}, "Action": "sts:AssumeRole"}),
            serde_json::json!({"Effect": "Allow", "Action": "sts:AssumeRole"}),
            serde_json::json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole", "Resource": "*"}),
            serde_json::json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/*"}, "Action": "sts:AssumeRole"}),
            serde_json::json!({"Effect": "Allow", "Principal": {"Robot": "x"}, "Action": "sts:AssumeRole"}),
        ] {
            assert!(doc(bad.clone()).is_err(), "{bad} accepted");
        }
        // Identity policies still refuse principals.
        assert!(PolicyDocument::from_json(&serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]})).is_err());
    }
}
