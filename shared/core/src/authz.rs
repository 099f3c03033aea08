//! The one place that decides authorization: Cedar policies kept as data
//! (`policies/fieldvault.cedar`), deny by default. An evaluation error is a denial.
use std::str::FromStr;

use cedar_policy::{Authorizer, Context, Decision, Entities, EntityUid, PolicySet, Request};
use serde_json::{json, Value};

use crate::actions::Action;
use crate::caller::Caller;
use crate::ids::{CustomerId, TenantId, UserId};

const POLICY_TEXT: &str = include_str!("../policies/fieldvault.cedar");

/// What an action is about. Every resource belongs to one tenant.
#[derive(Debug, Clone)]
pub enum Resource {
    /// The tenant as a whole (lists, creation).
    Tenant(TenantId),
    User(TenantId, UserId),
    Customer {
        tenant: TenantId,
        id: CustomerId,
        assigned_technicians: Vec<UserId>,
    },
    AuditLog(TenantId),
    /// A user as the target of user management: their current role (the invited role for an
    /// invitation) and, for a role change, the role they would get. Owner-only powers and
    /// "not yourself" are decided on these.
    ManagedUser {
        tenant: TenantId,
        id: String,
        role: crate::caller::Role,
        new_role: Option<crate::caller::Role>,
    },
    Job {
        tenant: TenantId,
        id: crate::ids::JobId,
        assigned_technicians: Vec<UserId>,
    },
    /// Any other record of a tenant: `kind` is its Cedar type (`Estimate`, `Invoice`, …).
    Record {
        tenant: TenantId,
        kind: &'static str,
        id: String,
    },
}

impl Resource {
    fn uid_and_attrs(&self) -> (Value, Value) {
        match self {
            Resource::Tenant(t) => (uid("Tenant", t.as_str()), json!({ "tenant": t.as_str() })),
            Resource::User(t, u) => (uid("User", u.as_str()), json!({ "tenant": t.as_str() })),
            Resource::Customer {
                tenant,
                id,
                assigned_technicians,
            } => (
                uid("Customer", &id.to_string()),
                json!({
                    "tenant": tenant.as_str(),
                    "assigned_technicians": assigned_technicians
                        .iter()
                        .map(|u| json!({ "__entity": uid("User", u.as_str()) }))
                        .collect::<Vec<_>>(),
                }),
            ),
            Resource::AuditLog(t) => (uid("AuditLog", t.as_str()), json!({ "tenant": t.as_str() })),
            Resource::ManagedUser {
                tenant,
                id,
                role,
                new_role,
            } => {
                let mut attrs = json!({ "tenant": tenant.as_str(), "role": role.as_str() });
                if let Some(r) = new_role {
                    attrs["new_role"] = json!(r.as_str());
                }
                (uid("User", id), attrs)
            }
            Resource::Job {
                tenant,
                id,
                assigned_technicians,
            } => (
                uid("Job", &id.to_string()),
                json!({
                    "tenant": tenant.as_str(),
                    "assigned_technicians": assigned_technicians
                        .iter()
                        .map(|u| json!({ "__entity": uid("User", u.as_str()) }))
                        .collect::<Vec<_>>(),
                }),
            ),
            Resource::Record { tenant, kind, id } => {
                (uid(kind, id), json!({ "tenant": tenant.as_str() }))
            }
        }
    }

    /// A short, stable name for audit records: `customer/<id>`.
    pub fn audit_name(&self) -> String {
        match self {
            Resource::Tenant(t) => format!("tenant/{t}"),
            Resource::User(_, u) => format!("user/{u}"),
            Resource::Customer { id, .. } => format!("customer/{id}"),
            Resource::AuditLog(t) => format!("audit/{t}"),
            Resource::ManagedUser { id, .. } => format!("user/{id}"),
            Resource::Job { id, .. } => format!("job/{id}"),
            Resource::Record { kind, id, .. } => format!("{}/{id}", kind.to_lowercase()),
        }
    }
}

fn uid(kind: &str, id: &str) -> Value {
    json!({ "type": format!("Fieldvault::{kind}"), "id": id })
}

/// Why the policy engine could not be built (a broken policy file): fail at start, never allow.
#[derive(Debug, thiserror::Error)]
#[error("authorization policy could not be loaded: {0}")]
pub struct PolicyLoadError(String);

/// A denial, with the reason kept for the audit record (never shown to the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub reason: String,
}

pub struct PolicyEngine {
    policies: PolicySet,
    authorizer: Authorizer,
}

impl PolicyEngine {
    pub fn load() -> Result<Self, PolicyLoadError> {
        let policies =
            PolicySet::from_str(POLICY_TEXT).map_err(|e| PolicyLoadError(e.to_string()))?;
        Ok(Self {
            policies,
            authorizer: Authorizer::new(),
        })
    }

    /// Decide whether `caller` may perform `action` on `resource`.
    pub fn decide(
        &self,
        caller: &Caller,
        action: Action,
        resource: &Resource,
    ) -> Result<(), Denied> {
        let denied = |reason: String| Err(Denied { reason });
        let principal = uid("User", caller.user.as_str());
        let (resource_uid, resource_attrs) = resource.uid_and_attrs();
        let mut entities = vec![
            json!({
                "uid": principal,
                "attrs": { "tenant": caller.tenant.as_str() },
                "parents": [uid("Role", caller.role.as_str())],
            }),
            json!({ "uid": uid("Role", caller.role.as_str()), "attrs": {}, "parents": [] }),
        ];
        // A user acting on their own user record is the same entity: merge, don't duplicate.
        if resource_uid != principal {
            entities.push(json!({ "uid": resource_uid, "attrs": resource_attrs, "parents": [] }));
        }
        let entities = match Entities::from_json_value(Value::Array(entities), None) {
            Ok(e) => e,
            Err(e) => return denied(format!("entities: {e}")),
        };
        let parse_uid = |v: &Value| EntityUid::from_json(v.clone()).ok();
        let (Some(p), Some(a), Some(r)) = (
            parse_uid(&principal),
            parse_uid(&json!({ "type": "Fieldvault::Action", "id": action.policy_name() })),
            parse_uid(&resource_uid),
        ) else {
            return denied("malformed entity id".into());
        };
        let request = match Request::new(p, a, r, Context::empty(), None) {
            Ok(r) => r,
            Err(e) => return denied(format!("request: {e}")),
        };
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| e.to_string())
            .collect();
        if !errors.is_empty() {
            return denied(format!("policy evaluation error: {}", errors.join("; ")));
        }
        match response.decision() {
            Decision::Allow => Ok(()),
            Decision::Deny => {
                let by: Vec<String> = response
                    .diagnostics()
                    .reason()
                    .map(|id| id.to_string())
                    .collect();
                if by.is_empty() {
                    denied("no policy permits this".into())
                } else {
                    denied(format!("forbidden by {}", by.join(", ")))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::Role;

    fn caller(tenant: &str, role: Role) -> Caller {
        Caller {
            tenant: TenantId::parse(tenant).expect("tenant"),
            user: UserId::parse(&format!("user-{}", role.as_str().replace('_', "-")))
                .expect("user"),
            role,
            username: "u".into(),
            sign_in_id: None,
            signed_in_at: None,
        }
    }

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).expect("tenant")
    }

    #[test]
    fn role_matrix_for_tenant_actions() {
        let engine = PolicyEngine::load().expect("policy loads");
        let expect = |action: Action, allowed: &[Role]| {
            for role in Role::ALL {
                let got =
                    engine.decide(&caller("acme", role), action, &Resource::Tenant(t("acme")));
                assert_eq!(got.is_ok(), allowed.contains(&role), "{action:?} as {role}");
            }
        };
        use Role::*;
        expect(Action::GetMe, &Role::ALL);
        expect(Action::ListUsers, &[Owner, Admin]);
        expect(Action::ListAudit, &[Owner, Admin]);
        expect(Action::Intake, &[Owner, Admin, Dispatcher]);
        expect(Action::CreateCustomer, &[Owner, Admin, Dispatcher]);
        expect(
            Action::ListCustomers,
            &[Owner, Admin, Dispatcher, Accounting],
        );
    }

    #[test]
    fn money_actions_belong_to_billing_roles() {
        let engine = PolicyEngine::load().expect("policy loads");
        let decide = |role: Role, action: Action| {
            engine
                .decide(&caller("acme", role), action, &Resource::Tenant(t("acme")))
                .is_ok()
        };
        use Role::*;
        for action in [
            Action::IssueCreditNote,
            Action::RecordPayment,
            Action::RefundPayment,
        ] {
            for role in Role::ALL {
                assert_eq!(
                    decide(role, action),
                    matches!(role, Owner | Admin | Accounting),
                    "{action:?} as {role}"
                );
            }
        }
        for action in [Action::StartCheckout, Action::GetPayment] {
            assert!(!decide(Technician, action), "{action:?} as technician");
        }
        for role in Role::ALL {
            assert!(!decide(role, Action::ReceivePayment), "{role} received");
        }
    }

    #[test]
    fn the_payment_provider_only_receives_payments() {
        let engine = PolicyEngine::load().expect("policy loads");
        let provider = caller("acme", Role::PaymentProvider);
        for &action in Action::ALL {
            let got = engine.decide(&provider, action, &Resource::Tenant(t("acme")));
            assert_eq!(
                got.is_ok(),
                action == Action::ReceivePayment,
                "{action:?} as the provider"
            );
        }
        assert!(engine
            .decide(
                &provider,
                Action::ReceivePayment,
                &Resource::Tenant(t("other"))
            )
            .is_err());
    }

    #[test]
    fn the_telephony_provider_only_receives_calls() {
        let engine = PolicyEngine::load().expect("policy loads");
        let provider = caller("acme", Role::TelephonyProvider);
        for &action in Action::ALL {
            let got = engine.decide(&provider, action, &Resource::Tenant(t("acme")));
            assert_eq!(
                got.is_ok(),
                action == Action::ReceiveCall,
                "{action:?} as the telephony provider"
            );
        }
        let payments = caller("acme", Role::PaymentProvider);
        assert!(engine
            .decide(&payments, Action::ReceiveCall, &Resource::Tenant(t("acme")))
            .is_err());
        for role in Role::ALL {
            assert!(engine
                .decide(
                    &caller("acme", role),
                    Action::ReceiveCall,
                    &Resource::Tenant(t("acme"))
                )
                .is_err());
        }
    }

    #[test]
    fn evidence_follows_the_job_and_recordings_are_for_the_office() {
        use Role::*;
        let engine = PolicyEngine::load().expect("policy loads");
        let tech = caller("acme", Technician);
        let job = |techs: Vec<UserId>| Resource::Job {
            tenant: t("acme"),
            id: crate::ids::JobId::new(ulid::Ulid::new()),
            assigned_technicians: techs,
        };
        let recording = Resource::Record {
            tenant: t("acme"),
            kind: "CallEvidence",
            id: "x".into(),
        };
        for action in [
            Action::UploadEvidence,
            Action::ListEvidence,
            Action::DownloadEvidence,
        ] {
            assert!(engine
                .decide(&tech, action, &job(vec![tech.user.clone()]))
                .is_ok());
            assert!(engine.decide(&tech, action, &job(vec![])).is_err());
            for role in [Owner, Admin, Dispatcher] {
                assert!(engine
                    .decide(&caller("acme", role), action, &job(vec![]))
                    .is_ok());
            }
            assert!(engine
                .decide(&caller("acme", Accounting), action, &job(vec![]))
                .is_err());
        }
        for role in Role::ALL {
            let got = engine.decide(&caller("acme", role), Action::DownloadEvidence, &recording);
            assert_eq!(
                got.is_ok(),
                matches!(role, Owner | Admin | Dispatcher),
                "recording as {role}"
            );
        }
    }

    #[test]
    fn user_management_is_for_owners_and_admins_with_owner_only_powers_and_never_on_oneself() {
        use Role::*;
        let engine = PolicyEngine::load().expect("policy loads");
        let target = |role: Role, new_role: Option<Role>| Resource::ManagedUser {
            tenant: t("acme"),
            id: "someone-else".into(),
            role,
            new_role,
        };
        let manage = [
            Action::InviteUser,
            Action::ChangeUserRole,
            Action::DisableUser,
            Action::EnableUser,
        ];
        for action in manage {
            for role in Role::ALL {
                let got = engine.decide(&caller("acme", role), action, &target(Technician, None));
                assert_eq!(
                    got.is_ok(),
                    matches!(role, Owner | Admin),
                    "{action:?} as {role}"
                );
            }
            // Owner-only: touching an owner, or making one.
            assert!(engine
                .decide(&caller("acme", Admin), action, &target(Owner, None))
                .is_err());
            assert!(engine
                .decide(
                    &caller("acme", Admin),
                    action,
                    &target(Dispatcher, Some(Owner))
                )
                .is_err());
            assert!(engine
                .decide(&caller("acme", Owner), action, &target(Owner, None))
                .is_ok());
            assert!(engine
                .decide(&caller("acme", Owner), action, &target(Admin, Some(Owner)))
                .is_ok());
            // Another tenant's user: never.
            let foreign = Resource::ManagedUser {
                tenant: t("other"),
                id: "x".into(),
                role: Technician,
                new_role: None,
            };
            assert!(engine
                .decide(&caller("acme", Owner), action, &foreign)
                .is_err());
        }
        // Nobody changes, disables or enables themselves, owners included.
        for role in [Owner, Admin] {
            let me = caller("acme", role);
            let myself = Resource::ManagedUser {
                tenant: t("acme"),
                id: me.user.to_string(),
                role,
                new_role: Some(Dispatcher),
            };
            for action in [
                Action::ChangeUserRole,
                Action::DisableUser,
                Action::EnableUser,
            ] {
                assert!(
                    engine.decide(&me, action, &myself).is_err(),
                    "{action:?} as {role}"
                );
            }
        }
    }

    #[test]
    fn hr_records_are_for_owners_only() {
        let engine = PolicyEngine::load().expect("policy loads");
        let record = |tenant: &str| Resource::Record {
            tenant: t(tenant),
            kind: "HrRecord",
            id: "someone".into(),
        };
        for action in [Action::PutHrRecord, Action::GetHrRecord] {
            for role in Role::ALL {
                let got = engine.decide(&caller("acme", role), action, &record("acme"));
                assert_eq!(got.is_ok(), role == Role::Owner, "{action:?} as {role}");
            }
            assert!(engine
                .decide(&caller("acme", Role::Owner), action, &record("other"))
                .is_err());
            assert!(engine
                .decide(
                    &caller("acme", Role::PaymentProvider),
                    action,
                    &record("acme")
                )
                .is_err());
        }
    }

    #[test]
    fn nothing_crosses_tenants_even_for_owners() {
        let engine = PolicyEngine::load().expect("policy loads");
        for &action in Action::ALL {
            let got = engine.decide(
                &caller("acme", Role::Owner),
                action,
                &Resource::Tenant(t("other")),
            );
            assert!(got.is_err(), "{action:?} crossed tenants");
        }
    }

    #[test]
    fn technicians_read_only_customers_assigned_to_them() {
        let engine = PolicyEngine::load().expect("policy loads");
        let tech = caller("acme", Role::Technician);
        let id = CustomerId::new(ulid::Ulid::new());
        let unassigned = Resource::Customer {
            tenant: t("acme"),
            id,
            assigned_technicians: vec![],
        };
        assert!(engine
            .decide(&tech, Action::GetCustomer, &unassigned)
            .is_err());
        let assigned = Resource::Customer {
            tenant: t("acme"),
            id,
            assigned_technicians: vec![tech.user.clone()],
        };
        assert!(engine.decide(&tech, Action::GetCustomer, &assigned).is_ok());
        assert!(engine
            .decide(&tech, Action::UpdateCustomer, &assigned)
            .is_err());
        assert!(engine
            .decide(&tech, Action::ListCustomers, &Resource::Tenant(t("acme")))
            .is_err());
    }
}
#[cfg(test)]
mod portal_tests {
    use super::*;
    use crate::caller::{Caller, Role};
    use crate::ids::{TenantId, UserId};

    #[test]
    fn a_link_principal_reaches_only_the_portal() {
        let engine = PolicyEngine::load().expect("policy loads");
        let c = Caller {
            tenant: TenantId::parse("acme").expect("t"),
            user: UserId::parse("link-0123abcd").expect("u"),
            role: Role::Customer,
            username: "customer".into(),
            sign_in_id: None,
            signed_in_at: None,
        };
        let t = Resource::Tenant(TenantId::parse("acme").expect("t"));
        for &action in Action::ALL {
            let portal = matches!(
                action,
                Action::PortalView
                    | Action::PortalApprove
                    | Action::PortalDecline
                    | Action::PortalPay
                    | Action::PortalSignIn
                    | Action::PortalRefused
            );
            assert_eq!(engine.decide(&c, action, &t).is_ok(), portal, "{action:?}");
        }
    }
}
