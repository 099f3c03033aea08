//! The one place that decides authorization: Cedar policies kept as data
//! (`policies/fieldvault.cedar`), deny by default. An evaluation error is a denial.
//!
//! Every request is decided by Cedar's authorizer. Two things keep that cheap (it runs on
//! every request): the request's entities are built directly as Cedar values (no JSON to
//! parse), and each (role, action) is decided against the policies whose scope can match it,
//! selected once at load (`slice_for`). A policy whose scope excludes the request can never
//! apply to it (no action entity has parents, so `action in [..]` is membership; a principal's
//! only parent is its role, so `principal in Role::"x"` holds only for role x), so the
//! decision is the one the whole set gives; a test holds every role and action to that.
//!
//! A decision is a function of what the request's entities are built from (`DecisionKey`: the
//! caller, the action, the resource's kind and attributes, and its id only where a policy
//! names entities of that kind by id), and the policies are compiled in: so decisions are
//! remembered under that key for the life of the process (bounded), and a user's repeated
//! requests on records alike are decided once. A test holds remembered decisions, asked again
//! and for other ids, to fresh ones from the whole set. Each caller's principal entities are
//! built once too (`principal`).
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::RwLock;

use cedar_policy::{
    ActionConstraint, Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, PolicySet, PrincipalConstraint, Request, RestrictedExpression,
};

use crate::actions::Action;
use crate::caller::{Caller, Role};
use crate::ids::{CustomerId, TenantId, UserId};
use crate::remembered::Remembered;

const POLICY_TEXT: &str = include_str!("../policies/fieldvault.cedar");
const NAMESPACE: &str = "Fieldvault";

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

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

/// Every entity of a request names its tenant.
fn tenant_attr(t: &TenantId) -> (String, RestrictedExpression) {
    ("tenant".to_owned(), string(t.as_str()))
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

/// Every role a principal can have: the five shop roles and the principals no token carries.
const PRINCIPAL_ROLES: [Role; 8] = [
    Role::Owner,
    Role::Admin,
    Role::Dispatcher,
    Role::Technician,
    Role::Accounting,
    Role::PaymentProvider,
    Role::Customer,
    Role::TelephonyProvider,
];

/// Everything a decision is built from (`PolicyEngine::request` reads nothing else): the
/// caller's tenant, user and role, the action, and the resource's kind, id and attributes;
/// the id only where a policy names an entity of that kind. Cedar cannot read an entity's id:
/// a policy tells two ids of one kind apart only by naming one, or by comparing the resource
/// with another entity of the request; the principal is the only one that can be of the
/// resource's kind (`is_principal`), since no resource has parents and attributes name users
/// only. So two requests with equal keys are decided alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DecisionKey {
    tenant: TenantId,
    user: UserId,
    role: Role,
    action: Action,
    kind: &'static str,
    id: Option<String>,
    is_principal: bool,
    attrs: ResourceAttrs,
}

/// A resource's attributes: what its Cedar entity carries (`cedar`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ResourceAttrs {
    tenant: TenantId,
    assigned_technicians: Option<Vec<UserId>>,
    role: Option<Role>,
    new_role: Option<Role>,
}

impl ResourceAttrs {
    /// As Cedar values (`user` is the type of the users they name).
    fn cedar(&self, user: &EntityTypeName) -> HashMap<String, RestrictedExpression> {
        let mut attrs = HashMap::from([tenant_attr(&self.tenant)]);
        if let Some(ts) = &self.assigned_technicians {
            let users = ts.iter().map(|u| {
                RestrictedExpression::new_entity_uid(EntityUid::from_type_name_and_id(
                    user.clone(),
                    EntityId::new(u.as_str()),
                ))
            });
            attrs.insert(
                "assigned_technicians".into(),
                RestrictedExpression::new_set(users),
            );
        }
        if let Some(r) = self.role {
            attrs.insert("role".into(), string(r.as_str()));
        }
        if let Some(r) = self.new_role {
            attrs.insert("new_role".into(), string(r.as_str()));
        }
        attrs
    }
}

impl Resource {
    /// The Cedar kind (without namespace), id and attributes of the resource entity: what a
    /// decision reads of it, and what its `DecisionKey` is made of.
    fn parts(&self) -> (&'static str, String, ResourceAttrs) {
        let attrs = |tenant: &TenantId| ResourceAttrs {
            tenant: tenant.clone(),
            assigned_technicians: None,
            role: None,
            new_role: None,
        };
        match self {
            Resource::Tenant(t) => ("Tenant", t.to_string(), attrs(t)),
            Resource::User(t, u) => ("User", u.to_string(), attrs(t)),
            Resource::Customer {
                tenant,
                id,
                assigned_technicians,
            } => (
                "Customer",
                id.to_string(),
                ResourceAttrs {
                    assigned_technicians: Some(assigned_technicians.clone()),
                    ..attrs(tenant)
                },
            ),
            Resource::AuditLog(t) => ("AuditLog", t.to_string(), attrs(t)),
            Resource::ManagedUser {
                tenant,
                id,
                role,
                new_role,
            } => (
                "User",
                id.clone(),
                ResourceAttrs {
                    role: Some(*role),
                    new_role: *new_role,
                    ..attrs(tenant)
                },
            ),
            Resource::Job {
                tenant,
                id,
                assigned_technicians,
            } => (
                "Job",
                id.to_string(),
                ResourceAttrs {
                    assigned_technicians: Some(assigned_technicians.clone()),
                    ..attrs(tenant)
                },
            ),
            Resource::Record { tenant, kind, id } => (*kind, id.clone(), attrs(tenant)),
        }
    }
}

/// The entity kinds (types of the Fieldvault namespace, without it) the policies name by id
/// anywhere (scope or condition): for those, the resource id is part of a decision's key. Any JSON object of a policy's JSON form with a
/// `type` and an `id` is such a reference (entity literals and scope constraints alike).
fn types_named_by_id(all: &PolicySet) -> Result<HashSet<String>, PolicyLoadError> {
    fn scan(v: &serde_json::Value, out: &mut HashSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let (Some(serde_json::Value::String(ty)), Some(_)) = (m.get("type"), m.get("id"))
                {
                    out.insert(ty.clone());
                }
                m.values().for_each(|v| scan(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| scan(v, out)),
            _ => {}
        }
    }
    let mut types = HashSet::new();
    for policy in all.policies() {
        let json = policy
            .to_json()
            .map_err(|e| PolicyLoadError(e.to_string()))?;
        scan(&json, &mut types);
    }
    let prefix = format!("{NAMESPACE}::");
    Ok(types
        .iter()
        .filter_map(|t| t.strip_prefix(&prefix).map(str::to_owned))
        .collect())
}

/// At most this many remembered decisions (or principals) (a container serves a few
/// tenants' users); when full, the memory starts over.
const REMEMBERED: usize = 4096;

pub struct PolicyEngine {
    /// Each action's uid.
    actions: HashMap<Action, EntityUid>,
    /// Per (role, action): the policies whose scope can match it.
    slices: HashMap<(Role, Action), PolicySet>,
    /// Every policy, for a (role, action) without a slice.
    all: PolicySet,
    authorizer: Authorizer,
    /// Entity types by name (`User`, `Customer`, …), parsed once.
    types: RwLock<HashMap<&'static str, EntityTypeName>>,
    /// Decisions by everything they are built from (`None`: not remembered, for the tests
    /// that compare).
    remembered: Option<Remembered<DecisionKey, Result<(), Denied>>>,
    /// Entity kinds some policy names by id (`types_named_by_id`).
    named_by_id: HashSet<String>,
    /// Each caller's principal entities (`principal`), by (tenant, user, role); `None`: built
    /// for every request, for the tests that compare.
    principals: Option<PrincipalEntities>,
}

type PrincipalEntities = Remembered<(TenantId, UserId, Role), (EntityUid, Entities)>;

fn type_name(kind: &str) -> Result<EntityTypeName, String> {
    EntityTypeName::from_str(&format!("{NAMESPACE}::{kind}")).map_err(|e| e.to_string())
}

/// The policies of `all` that can apply to a principal of `role` doing `action`: every policy
/// whose action scope is unconstrained, equals it or lists it, and whose principal scope is not
/// `in` another role.
fn slice_for(
    all: &PolicySet,
    role: &EntityUid,
    action: &EntityUid,
) -> Result<PolicySet, PolicyLoadError> {
    let mut slice = PolicySet::new();
    for policy in all.policies() {
        let for_action = match policy.action_constraint() {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(a) => &a == action,
            ActionConstraint::In(list) => list.contains(action),
        };
        let for_role = match policy.principal_constraint() {
            PrincipalConstraint::In(e) | PrincipalConstraint::IsIn(_, e) => {
                e.type_name() != role.type_name() || &e == role
            }
            _ => true,
        };
        if for_action && for_role {
            slice
                .add(policy.clone())
                .map_err(|e| PolicyLoadError(e.to_string()))?;
        }
    }
    Ok(slice)
}

impl PolicyEngine {
    pub fn load() -> Result<Self, PolicyLoadError> {
        let all = PolicySet::from_str(POLICY_TEXT).map_err(|e| PolicyLoadError(e.to_string()))?;
        Self::from_policies(&all, true, true)
    }

    /// `sliced = false` decides every request against the whole set, `remember = false`
    /// evaluates every decision (the tests compare).
    fn from_policies(
        all: &PolicySet,
        sliced: bool,
        remember: bool,
    ) -> Result<Self, PolicyLoadError> {
        // Templates would need linking to apply; the policy file has none, and a slice built
        // without them would silently drop them.
        if all.templates().next().is_some() || all.policies().any(|p| !p.is_static()) {
            return Err(PolicyLoadError("policy templates are not supported".into()));
        }
        let action_type = type_name("Action").map_err(PolicyLoadError)?;
        let role_type = type_name("Role").map_err(PolicyLoadError)?;
        let actions: HashMap<Action, EntityUid> = Action::ALL
            .iter()
            .map(|&a| {
                let id = EntityId::new(a.policy_name());
                (a, EntityUid::from_type_name_and_id(action_type.clone(), id))
            })
            .collect();
        let mut slices = HashMap::new();
        if sliced {
            for role in PRINCIPAL_ROLES {
                let role_uid = EntityUid::from_type_name_and_id(
                    role_type.clone(),
                    EntityId::new(role.as_str()),
                );
                for (&action, action_uid) in &actions {
                    slices.insert((role, action), slice_for(all, &role_uid, action_uid)?);
                }
            }
        }
        let mut types = HashMap::new();
        for kind in ["User", "Role", "Tenant", "Customer", "AuditLog", "Job"] {
            types.insert(kind, type_name(kind).map_err(PolicyLoadError)?);
        }
        Ok(Self {
            actions,
            slices,
            all: all.clone(),
            authorizer: Authorizer::new(),
            types: RwLock::new(types),
            remembered: remember.then(|| Remembered::new(REMEMBERED)),
            named_by_id: types_named_by_id(all)?,
            principals: remember.then(|| Remembered::new(REMEMBERED)),
        })
    }

    /// The entity type `Fieldvault::<kind>`, parsed once.
    fn type_of(&self, kind: &'static str) -> Result<EntityTypeName, String> {
        if let Some(ty) = self.types.read().ok().and_then(|t| t.get(kind).cloned()) {
            return Ok(ty);
        }
        let ty = type_name(kind)?;
        if let Ok(mut types) = self.types.write() {
            types.insert(kind, ty.clone());
        }
        Ok(ty)
    }

    fn uid(&self, kind: &'static str, id: &str) -> Result<EntityUid, String> {
        Ok(EntityUid::from_type_name_and_id(
            self.type_of(kind)?,
            EntityId::new(id),
        ))
    }

    /// The request's entities: the principal (with its tenant, a child of its role), the role,
    /// and the resource with its attributes.
    fn request(
        &self,
        caller: &Caller,
        action: Action,
        (kind, id, attrs): (&'static str, &str, &ResourceAttrs),
    ) -> Result<(Request, Entities, &PolicySet), String> {
        let action_uid = self
            .actions
            .get(&action)
            .ok_or_else(|| format!("unknown action {action:?}"))?;
        let policies = self.slices.get(&(caller.role, action)).unwrap_or(&self.all);
        let attrs = attrs.cedar(&self.type_of("User")?);
        let resource_uid = self.uid(kind, id)?;
        // A user acting on their own user record is the same entity: merge, don't duplicate.
        let resource = |principal: &EntityUid| -> Result<Option<Entity>, String> {
            if &resource_uid == principal {
                return Ok(None);
            }
            Entity::new(resource_uid.clone(), attrs, HashSet::new())
                .map(Some)
                .map_err(|e| e.to_string())
        };
        let (principal, entities) = match &self.principals {
            Some(memory) => {
                let (principal, base) = self.principal(memory, caller)?;
                let entities = match resource(&principal)? {
                    Some(r) => base.add_entities([r], None).map_err(|e| e.to_string())?,
                    None => base,
                };
                (principal, entities)
            }
            // Every entity built for this request alone (the tests' reference).
            None => {
                let (principal, mut list) = self.principal_entities(caller)?;
                list.extend(resource(&principal)?);
                let entities = Entities::from_entities(list, None).map_err(|e| e.to_string())?;
                (principal, entities)
            }
        };
        let request = Request::new(
            principal,
            action_uid.clone(),
            resource_uid,
            Context::empty(),
            None,
        )
        .map_err(|e| e.to_string())?;
        Ok((request, entities, policies))
    }

    /// The caller as a Cedar principal: its uid, and the entities every one of its requests
    /// starts from (the principal with its tenant, a child of its role; the role), hierarchy
    /// closed. Built once per (tenant, user, role) when remembering; a request adds its
    /// resource (`Entities::add_entities` closes the hierarchy again for what it adds).
    fn principal(
        &self,
        memory: &PrincipalEntities,
        caller: &Caller,
    ) -> Result<(EntityUid, Entities), String> {
        let key = (caller.tenant.clone(), caller.user.clone(), caller.role);
        if let Some(known) = memory.recall(&key) {
            return Ok(known);
        }
        let (principal, list) = self.principal_entities(caller)?;
        let entities = Entities::from_entities(list, None).map_err(|e| e.to_string())?;
        memory.remember(key, (principal.clone(), entities.clone()));
        Ok((principal, entities))
    }

    /// The principal (with its tenant, a child of its role) and its role.
    fn principal_entities(&self, caller: &Caller) -> Result<(EntityUid, Vec<Entity>), String> {
        let role = self.uid("Role", caller.role.as_str())?;
        let principal = self.uid("User", caller.user.as_str())?;
        let entities = vec![
            Entity::new(
                principal.clone(),
                HashMap::from([tenant_attr(&caller.tenant)]),
                HashSet::from([role.clone()]),
            )
            .map_err(|e| e.to_string())?,
            Entity::new_no_attrs(role, HashSet::new()),
        ];
        Ok((principal, entities))
    }

    /// Decide whether `caller` may perform `action` on `resource`.
    pub fn decide(
        &self,
        caller: &Caller,
        action: Action,
        resource: &Resource,
    ) -> Result<(), Denied> {
        let (kind, id, attrs) = resource.parts();
        let Some(memory) = &self.remembered else {
            return self.evaluate(caller, action, (kind, &id, &attrs)).0;
        };
        let key = DecisionKey {
            tenant: caller.tenant.clone(),
            user: caller.user.clone(),
            role: caller.role,
            action,
            kind,
            id: self.named_by_id.contains(kind).then(|| id.clone()),
            is_principal: kind == "User" && id == caller.user.as_str(),
            attrs,
        };
        if let Some(known) = memory.recall(&key) {
            return known;
        }
        let (decision, clean) = self.evaluate(caller, action, (kind, &id, &key.attrs));
        // A denial from an error keeps its message (which may name the request's entities)
        // for this request's audit record only.
        if clean {
            memory.remember(key, decision.clone());
        }
        decision
    }

    /// Cedar's decision for this request, and whether it came without errors (a decision
    /// with errors is a denial too, but its reason is this request's).
    fn evaluate(
        &self,
        caller: &Caller,
        action: Action,
        resource: (&'static str, &str, &ResourceAttrs),
    ) -> (Result<(), Denied>, bool) {
        let denied = |reason: String| Err(Denied { reason });
        let (request, entities, policies) = match self.request(caller, action, resource) {
            Ok(r) => r,
            Err(e) => return (denied(format!("request: {e}")), false),
        };
        let response = self.authorizer.is_authorized(&request, policies, &entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| e.to_string())
            .collect();
        if !errors.is_empty() {
            let reason = format!("policy evaluation error: {}", errors.join("; "));
            return (denied(reason), false);
        }
        let decision = match response.decision() {
            Decision::Allow => Ok(()),
            Decision::Deny => {
                let mut by: Vec<String> = response
                    .diagnostics()
                    .reason()
                    .map(|id| id.to_string())
                    .collect();
                by.sort();
                if by.is_empty() {
                    denied("no policy permits this".into())
                } else {
                    denied(format!("forbidden by {}", by.join(", ")))
                }
            }
        };
        (decision, true)
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
            auth_time: None,
        }
    }

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).expect("tenant")
    }

    /// Deciding each (role, action) against its slice of the policies, and remembering
    /// decisions about a tenant as a whole, gives exactly the whole set's fresh decisions,
    /// reasons included, for every action, principal and kind of resource, asked once or again.
    #[test]
    fn sliced_policies_decide_as_the_whole_policy_set() {
        let all = PolicySet::from_str(POLICY_TEXT).expect("policies parse");
        let sliced = PolicyEngine::from_policies(&all, true, true).expect("sliced");
        let whole = PolicyEngine::from_policies(&all, false, false).expect("whole");
        // Every principal role has its slices, and they are slices.
        for role in PRINCIPAL_ROLES {
            for &action in Action::ALL {
                let slice = sliced.slices.get(&(role, action)).expect("a slice");
                assert!(slice.policies().count() < all.policies().count());
            }
        }
        let mut principals: Vec<Caller> = Role::ALL.iter().map(|&r| caller("acme", r)).collect();
        for role in [
            Role::PaymentProvider,
            Role::TelephonyProvider,
            Role::Customer,
        ] {
            principals.push(caller("acme", role));
        }
        let mut total = 0;
        let mut allowed = 0;
        for c in &principals {
            let resources = |tenant: &str| {
                vec![
                    Resource::Tenant(t(tenant)),
                    Resource::User(t(tenant), c.user.clone()),
                    Resource::User(t(tenant), UserId::parse("someone-else").expect("u")),
                    Resource::Customer {
                        tenant: t(tenant),
                        id: CustomerId::new(ulid::Ulid::new()),
                        assigned_technicians: vec![c.user.clone()],
                    },
                    Resource::Customer {
                        tenant: t(tenant),
                        id: CustomerId::new(ulid::Ulid::new()),
                        assigned_technicians: vec![],
                    },
                    Resource::AuditLog(t(tenant)),
                    Resource::ManagedUser {
                        tenant: t(tenant),
                        id: "someone-else".into(),
                        role: Role::Technician,
                        new_role: Some(Role::Owner),
                    },
                    Resource::ManagedUser {
                        tenant: t(tenant),
                        id: c.user.to_string(),
                        role: c.role,
                        new_role: None,
                    },
                    Resource::Job {
                        tenant: t(tenant),
                        id: crate::ids::JobId::new(ulid::Ulid::new()),
                        assigned_technicians: vec![c.user.clone()],
                    },
                    Resource::Record {
                        tenant: t(tenant),
                        kind: "Invoice",
                        id: "inv".into(),
                    },
                    Resource::Record {
                        tenant: t(tenant),
                        kind: "HrRecord",
                        id: "hr".into(),
                    },
                ]
            };
            // Records come with new ids each time: remembered decisions (keyed without ids
            // where no policy names any) are held to fresh ones for other ids too.
            let asked = [resources("acme"), resources("other"), resources("acme")];
            for r in asked.iter().flatten() {
                for &action in Action::ALL {
                    let got = sliced.decide(c, action, r);
                    let fresh = whole.decide(c, action, r);
                    assert_eq!(got, fresh, "{action:?} by {} on {r:?}", c.role);
                    // Asked again (now remembered): the same answer.
                    assert_eq!(
                        sliced.decide(c, action, r),
                        fresh,
                        "again: {action:?} on {r:?}"
                    );
                    total += 1;
                    allowed += usize::from(got.is_ok());
                }
            }
        }
        // The comparison covers both answers, not only refusals.
        assert!(
            allowed > 100 && allowed < total,
            "{allowed} of {total} allowed"
        );
    }

    /// Remembered decisions are keyed by everything Cedar reads: records alike but for their
    /// id share one, other attributes, callers or "is it me" do not; the memory is bounded.
    #[test]
    fn remembered_decisions_are_keyed_by_what_cedar_reads_and_bounded() {
        let engine = PolicyEngine::load().expect("policy loads");
        // The policy file names no record by id (so ids are left out of keys).
        assert!(
            !engine.named_by_id.contains("Customer"),
            "{:?}",
            engine.named_by_id
        );
        // The scan finds what the policies do name by id (roles, actions).
        assert!(engine.named_by_id.contains("Role") && engine.named_by_id.contains("Action"));
        let remembered = |e: &PolicyEngine| e.remembered.as_ref().map(Remembered::len).unwrap_or(0);
        let customer = |technicians: Vec<UserId>| Resource::Customer {
            tenant: t("acme"),
            id: CustomerId::new(ulid::Ulid::new()),
            assigned_technicians: technicians,
        };
        let tech = caller("acme", Role::Technician);
        assert!(engine
            .decide(&tech, Action::GetCustomer, &customer(vec![]))
            .is_err());
        assert!(engine
            .decide(&tech, Action::GetCustomer, &customer(vec![]))
            .is_err());
        assert_eq!(
            remembered(&engine),
            1,
            "another id, same attributes: one key"
        );
        let mine = customer(vec![tech.user.clone()]);
        assert!(engine.decide(&tech, Action::GetCustomer, &mine).is_ok());
        assert_eq!(remembered(&engine), 2, "other attributes: another key");
        let list = Resource::Tenant(t("acme"));
        let owner = caller("acme", Role::Owner);
        assert!(engine.decide(&owner, Action::ListCustomers, &list).is_ok());
        let mut other = owner.clone();
        other.user = UserId::parse("someone-else").expect("u");
        assert!(engine.decide(&other, Action::ListCustomers, &list).is_ok());
        assert_eq!(remembered(&engine), 4, "another user: another key");
        // "Not yourself": the same target attributes, once the caller and once someone else.
        let target = |id: &str| Resource::ManagedUser {
            tenant: t("acme"),
            id: id.into(),
            role: Role::Owner,
            new_role: Some(Role::Admin),
        };
        let on_self = engine.decide(&owner, Action::ChangeUserRole, &target(owner.user.as_str()));
        let on_other = engine.decide(&owner, Action::ChangeUserRole, &target("someone-else"));
        assert!(
            on_self.is_err() && on_other.is_ok(),
            "{on_self:?} {on_other:?}"
        );
        assert!(engine
            .decide(&owner, Action::ChangeUserRole, &target(owner.user.as_str()))
            .is_err());
        // Another tenant's list stays refused when asked again.
        let theirs = Resource::Tenant(t("other"));
        assert!(engine
            .decide(&owner, Action::ListCustomers, &theirs)
            .is_err());
        assert!(engine
            .decide(&owner, Action::ListCustomers, &theirs)
            .is_err());
        for i in 0..REMEMBERED + 10 {
            let mut c = owner.clone();
            c.user = UserId::parse(&format!("user-{i}")).expect("u");
            assert!(engine.decide(&c, Action::ListCustomers, &list).is_ok());
        }
        assert!(remembered(&engine) <= REMEMBERED);
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
            Action::ResetUserMfa,
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
                Action::ResetUserMfa,
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
            auth_time: None,
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
