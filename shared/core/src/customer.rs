//! Customers: contact points (with SMS/email consent) and service locations.
//! Inputs are parsed into these types once; nothing downstream re-checks raw strings.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{CustomerId, IdSource, LocationId, TenantId, UserId};
use crate::keys;
use crate::problem::{ApiError, FieldError};
use crate::store::{Condition, Item, Write};

const MAX_NAME: usize = 200;
const MAX_NOTES: usize = 4000;
const MAX_SHORT: usize = 200;
const MAX_CONTACT_POINTS: usize = 20;
const MAX_LOCATIONS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CustomerKind {
    Residential,
    Commercial,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContactKind {
    Phone,
    Email,
}

impl ContactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Phone => "phone",
            ContactKind::Email => "email",
        }
    }
}

/// A way to reach the customer, with the consent the customer gave for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPoint {
    pub kind: ContactKind,
    /// E.164 for phones, lower-cased for emails.
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// May we text this number? Only meaningful for phones.
    #[serde(default)]
    pub sms_consent: bool,
    /// May we email this address? Only meaningful for emails.
    #[serde(default)]
    pub email_consent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    #[serde(default = "default_country")]
    pub country: String,
}

fn default_country() -> String {
    "US".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceLocation {
    pub id: LocationId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_notes: Option<String>,
}

/// A service location as a client sends it: an id keeps an existing location.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceLocationInput {
    #[serde(default)]
    pub id: Option<LocationId>,
    #[serde(default)]
    pub label: Option<String>,
    pub address: Address,
    #[serde(default)]
    pub access_notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Customer {
    pub id: CustomerId,
    pub tenant_id: TenantId,
    pub name: String,
    pub kind: CustomerKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    pub contact_points: Vec<ContactPoint>,
    pub service_locations: Vec<ServiceLocation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Technicians with work at this customer; maintained by job assignment.
    #[serde(default)]
    pub assigned_technicians: Vec<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub updated_at: OffsetDateTime,
    pub created_by: UserId,
    /// Increases with every change; a PATCH may name the version it was based on.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub name: String,
    #[serde(default = "residential")]
    pub kind: CustomerKind,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub contact_points: Vec<ContactPoint>,
    #[serde(default)]
    pub service_locations: Vec<ServiceLocationInput>,
    #[serde(default)]
    pub notes: Option<String>,
}

fn residential() -> CustomerKind {
    CustomerKind::Residential
}

/// A partial update. Lists replace the stored list; locations keep their id when given one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub kind: Option<CustomerKind>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub contact_points: Option<Vec<ContactPoint>>,
    #[serde(default)]
    pub service_locations: Option<Vec<ServiceLocationInput>>,
    #[serde(default)]
    pub notes: Option<String>,
    /// The version this change was based on; a different stored version is a 409.
    #[serde(default)]
    pub version: Option<u64>,
}

/// Collects every field complaint so a client sees them all at once.
#[derive(Default)]
struct Complaints(Vec<FieldError>);

impl Complaints {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }
    fn text(&mut self, field: &str, value: &str, max: usize, required: bool) -> String {
        let v = value.trim();
        if required && v.is_empty() {
            self.add(field, "is required");
        }
        if v.chars().count() > max {
            self.add(field, format!("is longer than {max} characters"));
        }
        if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            self.add(field, "contains control characters");
        }
        v.to_owned()
    }
    fn opt_text(&mut self, field: &str, value: &Option<String>, max: usize) -> Option<String> {
        value
            .as_deref()
            .map(|v| self.text(field, v, max, false))
            .filter(|v| !v.is_empty())
    }
    fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::BadRequest {
                detail: "the request body is invalid".into(),
                errors: self.0,
            })
        }
    }
}

/// Normalize a phone number to E.164. Ten digits are taken as North American.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
    {
        return None;
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let e164 = if trimmed.starts_with('+') {
        format!("+{digits}")
    } else if digits.len() == 10 {
        format!("+1{digits}")
    } else if digits.len() == 11 && digits.starts_with('1') {
        format!("+{digits}")
    } else {
        return None;
    };
    (9..=16).contains(&e164.len()).then_some(e164)
}

/// Normalize an email address (lower-cased; one `@`; a dotted domain; no spaces).
pub fn normalize_email(raw: &str) -> Option<String> {
    let v = raw.trim().to_lowercase();
    let (local, domain) = v.split_once('@')?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && v.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(v)
}

fn check_contact_points(c: &mut Complaints, points: &[ContactPoint]) -> Vec<ContactPoint> {
    if points.len() > MAX_CONTACT_POINTS {
        c.add("contact_points", format!("at most {MAX_CONTACT_POINTS}"));
    }
    let mut out: Vec<ContactPoint> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let field = format!("contact_points[{i}]");
        let value = match p.kind {
            ContactKind::Phone => normalize_phone(&p.value),
            ContactKind::Email => normalize_email(&p.value),
        };
        let Some(value) = value else {
            c.add(
                format!("{field}.value"),
                format!("is not a valid {}", p.kind.as_str()),
            );
            continue;
        };
        if p.kind == ContactKind::Email && p.sms_consent {
            c.add(format!("{field}.sms_consent"), "applies to phones only");
        }
        if p.kind == ContactKind::Phone && p.email_consent {
            c.add(format!("{field}.email_consent"), "applies to emails only");
        }
        if out.iter().any(|o| o.kind == p.kind && o.value == value) {
            c.add(format!("{field}.value"), "is listed twice");
        }
        let label = c.opt_text(&format!("{field}.label"), &p.label, 100);
        out.push(ContactPoint {
            value,
            label,
            ..p.clone()
        });
    }
    out
}

fn check_locations(
    c: &mut Complaints,
    inputs: &[ServiceLocationInput],
    existing: &[ServiceLocation],
    ids: &dyn IdSource,
) -> Vec<ServiceLocation> {
    if inputs.len() > MAX_LOCATIONS {
        c.add("service_locations", format!("at most {MAX_LOCATIONS}"));
    }
    inputs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let f = format!("service_locations[{i}]");
            let id = match l.id {
                Some(id) if existing.iter().any(|e| e.id == id) => id,
                Some(_) => {
                    c.add(format!("{f}.id"), "is not a location of this customer");
                    LocationId::new(ids.ulid())
                }
                None => LocationId::new(ids.ulid()),
            };
            let a = &l.address;
            let country = c.text(&format!("{f}.address.country"), &a.country, 2, true);
            if country.len() != 2 || !country.chars().all(|ch| ch.is_ascii_alphabetic()) {
                c.add(
                    format!("{f}.address.country"),
                    "must be a two-letter country code",
                );
            }
            ServiceLocation {
                id,
                label: c.opt_text(&format!("{f}.label"), &l.label, 100),
                address: Address {
                    line1: c.text(&format!("{f}.address.line1"), &a.line1, MAX_SHORT, true),
                    line2: c.opt_text(&format!("{f}.address.line2"), &a.line2, MAX_SHORT),
                    city: c.text(&format!("{f}.address.city"), &a.city, MAX_SHORT, true),
                    region: c.text(&format!("{f}.address.region"), &a.region, MAX_SHORT, true),
                    postal_code: c.text(
                        &format!("{f}.address.postal_code"),
                        &a.postal_code,
                        20,
                        true,
                    ),
                    country: country.to_uppercase(),
                },
                access_notes: c.opt_text(&format!("{f}.access_notes"), &l.access_notes, 1000),
            }
        })
        .collect()
}

impl Customer {
    /// Parse a creation request into a customer.
    pub fn create(
        input: &NewCustomer,
        tenant: &TenantId,
        by: &UserId,
        now: OffsetDateTime,
        ids: &dyn IdSource,
    ) -> Result<Customer, ApiError> {
        let mut c = Complaints::default();
        let name = c.text("name", &input.name, MAX_NAME, true);
        let company = c.opt_text("company", &input.company, MAX_NAME);
        let notes = c.opt_text("notes", &input.notes, MAX_NOTES);
        let contact_points = check_contact_points(&mut c, &input.contact_points);
        let service_locations = check_locations(&mut c, &input.service_locations, &[], ids);
        c.finish()?;
        Ok(Customer {
            id: CustomerId::new(ids.ulid()),
            tenant_id: tenant.clone(),
            name,
            kind: input.kind,
            company,
            contact_points,
            service_locations,
            notes,
            assigned_technicians: Vec::new(),
            created_at: now,
            updated_at: now,
            created_by: by.clone(),
            version: 1,
        })
    }

    /// Apply a patch, producing the next version.
    pub fn patched(
        &self,
        patch: &CustomerPatch,
        now: OffsetDateTime,
        ids: &dyn IdSource,
    ) -> Result<Customer, ApiError> {
        if let Some(v) = patch.version {
            if v != self.version {
                return Err(ApiError::Conflict(format!(
                    "the customer is at version {}, not {v}",
                    self.version
                )));
            }
        }
        let mut c = Complaints::default();
        let mut next = self.clone();
        if let Some(name) = &patch.name {
            next.name = c.text("name", name, MAX_NAME, true);
        }
        if let Some(kind) = patch.kind {
            next.kind = kind;
        }
        if patch.company.is_some() {
            next.company = c.opt_text("company", &patch.company, MAX_NAME);
        }
        if patch.notes.is_some() {
            next.notes = c.opt_text("notes", &patch.notes, MAX_NOTES);
        }
        if let Some(points) = &patch.contact_points {
            next.contact_points = check_contact_points(&mut c, points);
        }
        if let Some(locations) = &patch.service_locations {
            next.service_locations =
                check_locations(&mut c, locations, &self.service_locations, ids);
        }
        c.finish()?;
        next.updated_at = now;
        next.version = self.version + 1;
        Ok(next)
    }

    pub fn to_item(&self) -> Item {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Item::new(),
        }
    }

    pub fn from_item(item: &Item) -> Option<Customer> {
        crate::store::record_of(item)
    }

    /// The lookup entries (phone and email) that make contact points unique within a tenant.
    pub fn contact_keys(&self) -> Vec<keys::Key> {
        self.contact_points
            .iter()
            .map(|p| keys::contact_lookup(&self.tenant_id, p.kind.as_str(), &p.value))
            .collect()
    }

    /// Writes that store a new customer with its contact lookups.
    pub fn creation_writes(&self) -> Vec<Write> {
        let mut writes = vec![self.put(Condition::NotExists)];
        writes.extend(
            self.contact_keys()
                .into_iter()
                .map(|key| self.lookup_put(key)),
        );
        writes
    }

    /// Writes that replace `before` with `self`, moving contact lookups that changed.
    pub fn update_writes(&self, before: &Customer) -> Vec<Write> {
        let old = before.contact_keys();
        let new = self.contact_keys();
        let mut writes = vec![self.put(Condition::VersionIs(before.version))];
        writes.extend(
            old.iter()
                .filter(|k| !new.contains(k))
                .map(|k| Write::Delete {
                    key: k.clone(),
                    condition: Condition::None,
                }),
        );
        writes.extend(
            new.into_iter()
                .filter(|k| !old.contains(k))
                .map(|k| self.lookup_put(k)),
        );
        writes
    }

    fn put(&self, condition: Condition) -> Write {
        Write::Put {
            key: keys::customer(&self.tenant_id, &self.id),
            index: Some(keys::customers_index(&self.tenant_id, &self.name, &self.id)),
            item: self.to_item(),
            condition,
        }
    }

    fn lookup_put(&self, key: keys::Key) -> Write {
        let mut item = Item::new();
        item.insert(
            "customer_id".into(),
            serde_json::Value::String(self.id.to_string()),
        );
        Write::Put {
            key,
            index: None,
            item,
            condition: Condition::NotExists,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SystemIds;

    fn tenant() -> TenantId {
        TenantId::parse("acme").expect("tenant")
    }
    fn user() -> UserId {
        UserId::parse("u1").expect("user")
    }

    fn new_customer(json: serde_json::Value) -> Result<Customer, ApiError> {
        let input: NewCustomer =
            serde_json::from_value(json).map_err(|e| ApiError::bad_request(e.to_string()))?;
        Customer::create(
            &input,
            &tenant(),
            &user(),
            OffsetDateTime::UNIX_EPOCH,
            &SystemIds,
        )
    }

    #[test]
    fn phones_and_emails_normalize() {
        assert_eq!(
            normalize_phone("(555) 123-4567").as_deref(),
            Some("+15551234567")
        );
        assert_eq!(
            normalize_phone("+44 20 7946 0958").as_deref(),
            Some("+442079460958")
        );
        assert_eq!(normalize_phone("12ab"), None);
        assert_eq!(
            normalize_email(" Pat@Example.COM ").as_deref(),
            Some("pat@example.com")
        );
        assert_eq!(normalize_email("no-at-sign"), None);
        assert_eq!(normalize_email("a@b"), None);
    }

    #[test]
    fn creation_collects_every_complaint() {
        let err = new_customer(serde_json::json!({
            "name": " ",
            "contact_points": [{"kind": "email", "value": "bad", "sms_consent": true}],
        }));
        let Err(ApiError::BadRequest { errors, .. }) = err else {
            panic!("expected 400")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"name"));
        assert!(fields.contains(&"contact_points[0].value"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed: Result<NewCustomer, _> =
            serde_json::from_value(serde_json::json!({"name": "A", "tenant_id": "other"}));
        assert!(parsed.is_err());
    }

    #[test]
    fn patch_moves_contact_lookups_and_bumps_version() {
        let c = new_customer(serde_json::json!({
            "name": "Pat",
            "contact_points": [{"kind": "phone", "value": "5551234567", "sms_consent": true}],
        }))
        .expect("valid");
        let patch = CustomerPatch {
            contact_points: Some(vec![ContactPoint {
                kind: ContactKind::Email,
                value: "pat@example.com".into(),
                label: None,
                sms_consent: false,
                email_consent: true,
            }]),
            version: Some(1),
            ..Default::default()
        };
        let next = c
            .patched(&patch, OffsetDateTime::UNIX_EPOCH, &SystemIds)
            .expect("patch");
        assert_eq!(next.version, 2);
        let writes = next.update_writes(&c);
        assert_eq!(
            writes.len(),
            3,
            "put customer, delete old phone lookup, put email lookup"
        );
        let stale = CustomerPatch {
            version: Some(7),
            ..Default::default()
        };
        assert!(matches!(
            c.patched(&stale, OffsetDateTime::UNIX_EPOCH, &SystemIds),
            Err(ApiError::Conflict(_))
        ));
    }

    #[test]
    fn locations_keep_known_ids_only() {
        let c = new_customer(serde_json::json!({
            "name": "Pat",
            "service_locations": [{"address": {"line1": "1 Main", "city": "Town", "region": "CA", "postal_code": "90000"}}],
        }))
        .expect("valid");
        let known = c.service_locations[0].id;
        let patch: CustomerPatch = serde_json::from_value(serde_json::json!({
            "service_locations": [
                {"id": known.to_string(), "address": {"line1": "2 Main", "city": "Town", "region": "CA", "postal_code": "90000"}},
            ]
        }))
        .expect("patch parses");
        let next = c
            .patched(&patch, OffsetDateTime::UNIX_EPOCH, &SystemIds)
            .expect("patch");
        assert_eq!(next.service_locations[0].id, known);
        let foreign: CustomerPatch = serde_json::from_value(serde_json::json!({
            "service_locations": [
                {"id": LocationId::new(ulid::Ulid::new()).to_string(), "address": {"line1": "x", "city": "y", "region": "z", "postal_code": "1"}},
            ]
        }))
        .expect("patch parses");
        assert!(c
            .patched(&foreign, OffsetDateTime::UNIX_EPOCH, &SystemIds)
            .is_err());
    }
}

/// Customers referenced by other records.
pub mod store {
    use super::Customer;
    use crate::ids::{CustomerId, LocationId};
    use crate::keys;
    use crate::problem::ApiError;
    use crate::request::Ctx;
    use crate::store::TenantStore;

    /// The customer a new estimate, job or invoice is for, and the service location if one is
    /// named: both must be the tenant's own, else the request is a 400.
    pub async fn referenced<S: TenantStore>(
        cx: &Ctx<'_, S>,
        id: &CustomerId,
        location: Option<LocationId>,
    ) -> Result<Customer, ApiError> {
        let customer: Customer = cx
            .get(&keys::customer(&cx.caller.tenant, id))
            .await?
            .ok_or_else(|| {
                ApiError::invalid_field("customer_id", "is not a customer of this shop")
            })?;
        if let Some(location) = location {
            if !customer.service_locations.iter().any(|l| l.id == location) {
                return Err(ApiError::invalid_field(
                    "location_id",
                    "is not a service location of this customer",
                ));
            }
        }
        Ok(customer)
    }
}
