//! Intake: a call, a web form or a campaign response becomes a lead, a customer (new or
//! matched by phone/email) and a follow-up task, in one transaction.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::customer::{normalize_email, normalize_phone, Address, ContactKind, ContactPoint};
use crate::ids::{CustomerId, LeadId, TenantId, UserId};
use crate::keys;
use crate::problem::{ApiError, FieldError};
use crate::store::{Condition, Item, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LeadSource {
    Call,
    Form,
    Campaign,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntakeContact {
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub sms_consent: bool,
    #[serde(default)]
    pub email_consent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntakeInput {
    pub source: LeadSource,
    pub contact: IntakeContact,
    #[serde(default)]
    pub notes: Option<String>,
    /// Required when the source is a campaign.
    #[serde(default)]
    pub campaign: Option<String>,
    #[serde(default)]
    pub service_address: Option<Address>,
}

/// A parsed intake: normalized contact points and checked text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intake {
    pub source: LeadSource,
    pub name: String,
    pub contact_points: Vec<ContactPoint>,
    pub notes: Option<String>,
    pub campaign: Option<String>,
    pub service_address: Option<Address>,
}

impl Intake {
    pub fn parse(input: &IntakeInput) -> Result<Intake, ApiError> {
        let mut errors = Vec::new();
        let mut complain = |field: &str, message: &str| {
            errors.push(FieldError {
                field: field.into(),
                message: message.into(),
            })
        };
        let name = input.contact.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            complain("contact.name", "is required, at most 200 characters");
        }
        let mut contact_points = Vec::new();
        if let Some(raw) = &input.contact.phone {
            match normalize_phone(raw) {
                Some(value) => contact_points.push(ContactPoint {
                    kind: ContactKind::Phone,
                    value,
                    label: None,
                    sms_consent: input.contact.sms_consent,
                    email_consent: false,
                }),
                None => complain("contact.phone", "is not a valid phone number"),
            }
        }
        if let Some(raw) = &input.contact.email {
            match normalize_email(raw) {
                Some(value) => contact_points.push(ContactPoint {
                    kind: ContactKind::Email,
                    value,
                    label: None,
                    sms_consent: false,
                    email_consent: input.contact.email_consent,
                }),
                None => complain("contact.email", "is not a valid email address"),
            }
        }
        if input.contact.phone.is_none() && input.contact.email.is_none() {
            complain("contact", "needs a phone or an email");
        }
        if input.contact.sms_consent && input.contact.phone.is_none() {
            complain("contact.sms_consent", "needs a phone");
        }
        if input.contact.email_consent && input.contact.email.is_none() {
            complain("contact.email_consent", "needs an email");
        }
        let campaign = input
            .campaign
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        match (input.source, campaign) {
            (LeadSource::Campaign, None) => complain("campaign", "is required for campaign leads"),
            (_, Some(c)) if c.chars().count() > 100 => {
                complain("campaign", "is longer than 100 characters")
            }
            _ => {}
        }
        let notes = input
            .notes
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        if notes.is_some_and(|n| n.chars().count() > 4000) {
            complain("notes", "is longer than 4000 characters");
        }
        if !errors.is_empty() {
            return Err(ApiError::BadRequest {
                detail: "the intake is invalid".into(),
                errors,
            });
        }
        Ok(Intake {
            source: input.source,
            name,
            contact_points,
            notes: notes.map(str::to_owned),
            campaign: campaign.map(str::to_owned),
            service_address: input.service_address.clone(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    New,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Lead {
    pub id: LeadId,
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub source: LeadSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub status: LeadStatus,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub created_at: OffsetDateTime,
    pub created_by: UserId,
}

fn object<T: Serialize>(value: &T) -> Item {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => Item::new(),
    }
}

impl Lead {
    pub fn write(&self) -> Write {
        Write::Put {
            key: keys::lead(&self.tenant_id, &self.id),
            index: Some(keys::customer_index(
                &self.tenant_id,
                &self.customer_id,
                keys::CustomerRecord::Lead,
                &self.id.to_string(),
            )),
            item: object(self),
            condition: Condition::NotExists,
        }
    }
}

/// Recording a lead: matching the customer by phone or email (or creating one), the lead and
/// its follow-up task, in one audited transaction. `POST /intake` and the telephony webhook
/// both record leads through here.
pub mod store {
    use serde_json::Value;

    use super::{Intake, Lead, LeadStatus};
    use crate::actions::Action;
    use crate::customer::{ContactPoint, Customer, NewCustomer, ServiceLocationInput};
    use crate::ids::{CustomerId, LeadId};
    use crate::keys;
    use crate::problem::ApiError;
    use crate::request::{store_error, Ctx};
    use crate::routes::IntakeResult;
    use crate::store::{StoreError, TenantStore, Write};
    use crate::task::{Task, TaskKind, LEAD_FOLLOW_UP_WITHIN};

    /// The customer that already owns one of these contact points, in their order.
    pub async fn find_customer<S: TenantStore>(
        cx: &Ctx<'_, S>,
        contact_points: &[ContactPoint],
    ) -> Result<Option<Customer>, ApiError> {
        let t = &cx.caller.tenant;
        for p in contact_points {
            let Some(lookup) = cx
                .store
                .get(&keys::contact_lookup(t, p.kind.as_str(), &p.value))
                .await
                .map_err(store_error)?
            else {
                continue;
            };
            let Some(id) = lookup
                .get("customer_id")
                .and_then(|v| v.as_str())
                .and_then(|s| CustomerId::parse(s).ok())
            else {
                continue;
            };
            if let Some(c) = cx
                .store
                .get_record::<Customer>(&keys::customer(t, &id))
                .await
                .map_err(store_error)?
            {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// How recording a lead ended.
    pub enum Recorded {
        Done(Box<IntakeResult>),
        /// A condition of one of the caller's `extra` writes failed (a duplicate delivery):
        /// nothing was written.
        ExtraConflict,
    }

    /// Record the lead with `extra` writes (built from the lead and its customer, with what
    /// they add to the audit record's "after") in the same transaction.
    pub async fn record<S, F>(
        cx: &Ctx<'_, S>,
        parsed: &Intake,
        action: Action,
        extra: F,
    ) -> Result<Recorded, ApiError>
    where
        S: TenantStore,
        F: Fn(&Lead, &Customer) -> (Vec<Write>, Value),
    {
        // Two tries: if a concurrent intake created the same customer between our lookup and
        // our write, the contact-lookup condition fails and the second try matches it.
        for attempt in 0..2 {
            let existing = find_customer(cx, &parsed.contact_points).await?;
            let matched = existing.is_some();
            let (customer, customer_writes) = match existing {
                Some(c) => (c, Vec::new()),
                None => {
                    let new = NewCustomer {
                        name: parsed.name.clone(),
                        kind: crate::customer::CustomerKind::Residential,
                        company: None,
                        contact_points: parsed.contact_points.clone(),
                        service_locations: parsed
                            .service_address
                            .iter()
                            .map(|a| ServiceLocationInput {
                                id: None,
                                label: None,
                                address: a.clone(),
                                access_notes: None,
                            })
                            .collect(),
                        notes: None,
                    };
                    let c = Customer::create(
                        &new,
                        &cx.caller.tenant,
                        &cx.caller.user,
                        cx.now(),
                        cx.ids,
                    )?;
                    let w = c.creation_writes();
                    (c, w)
                }
            };
            let lead = Lead {
                id: LeadId::new(cx.ids.ulid()),
                tenant_id: cx.caller.tenant.clone(),
                customer_id: customer.id,
                source: parsed.source,
                campaign: parsed.campaign.clone(),
                notes: parsed.notes.clone(),
                status: LeadStatus::New,
                created_at: cx.now(),
                created_by: cx.caller.user.clone(),
            };
            let follow_up = Task::open(
                TaskKind::FollowUpLead,
                &lead.id.to_string(),
                &cx.caller.tenant,
                customer.id,
                cx.now() + LEAD_FOLLOW_UP_WITHIN,
            );
            let (mut writes, extra_after) = extra(&lead, &customer);
            let extra_count = writes.len();
            writes.extend(customer_writes);
            writes.push(lead.write());
            writes.push(follow_up.put());
            let mut after = serde_json::json!({
                "lead": lead,
                "customer": if matched { serde_json::json!({ "id": customer.id, "matched": true }) } else { serde_json::to_value(&customer).unwrap_or_default() },
                "follow_up": follow_up,
            });
            if !extra_after.is_null() {
                after["linked"] = extra_after;
            }
            match cx
                .commit(
                    action,
                    &format!("lead/{}", lead.id),
                    writes,
                    None,
                    Some(&after),
                )
                .await
            {
                Ok(()) => {
                    return Ok(Recorded::Done(Box::new(IntakeResult {
                        lead,
                        customer,
                        matched_existing_customer: matched,
                        follow_up,
                    })))
                }
                Err(StoreError::ConditionFailed { index }) if index < extra_count => {
                    return Ok(Recorded::ExtraConflict)
                }
                Err(StoreError::ConditionFailed { .. }) if !matched && attempt == 0 => continue,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ApiError::Conflict(
            "the contact changed while recording the lead; retry".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<Intake, ApiError> {
        let input: IntakeInput =
            serde_json::from_value(v).map_err(|e| ApiError::bad_request(e.to_string()))?;
        Intake::parse(&input)
    }

    #[test]
    fn intake_needs_a_way_to_reach_the_contact() {
        assert!(parse(serde_json::json!({"source": "call", "contact": {"name": "Pat"}})).is_err());
        let ok = parse(serde_json::json!({"source": "call", "contact": {"name": "Pat", "phone": "555-123-4567", "sms_consent": true}}))
            .expect("valid");
        assert_eq!(ok.contact_points[0].value, "+15551234567");
        assert!(ok.contact_points[0].sms_consent);
    }

    #[test]
    fn campaign_leads_name_their_campaign() {
        let v = serde_json::json!({"source": "campaign", "contact": {"name": "Pat", "email": "p@x.io"}});
        assert!(parse(v).is_err());
        let v =
            serde_json::json!({"source": "bogus", "contact": {"name": "Pat", "email": "p@x.io"}});
        assert!(parse(v).is_err());
    }
}
