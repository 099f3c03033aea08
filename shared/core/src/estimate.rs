//! Estimates: options (good / better / best) of priced lines, sent to a customer, approved or
//! declined for one option of one revision. Editing a sent estimate makes a new revision, so
//! an approval can only ever be for exactly what the customer saw.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Date, OffsetDateTime};

use crate::ids::{CustomerId, EstimateId, IdSource, LocationId, OptionId, TenantId, UserId};
use crate::keys;
use crate::money::{invalid, price_lines, totals, Currency, Line, LineInput, Totals};
use crate::problem::{ApiError, FieldError};
use crate::store::{Condition, Item, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EstimateStatus {
    Draft,
    Sent,
    Approved,
    Declined,
    /// Derived: sent, and past its valid-until date.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionInput {
    pub name: String,
    pub lines: Vec<LineInput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EstimateOption {
    pub id: OptionId,
    pub name: String,
    pub lines: Vec<Line>,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEstimate {
    pub customer_id: CustomerId,
    #[serde(default)]
    pub location_id: Option<LocationId>,
    pub title: String,
    #[serde(default)]
    pub currency: Currency,
    /// Last day the estimate can be approved (YYYY-MM-DD).
    #[schemars(with = "crate::schema::Date")]
    #[serde(with = "date")]
    pub valid_until: Date,
    pub options: Vec<OptionInput>,
}

/// A change: a draft changes in place; a sent estimate becomes a new draft revision.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateRevision {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "opt_date::deserialize")]
    #[schemars(with = "Option<crate::schema::Date>")]
    pub valid_until: Option<Date>,
    #[serde(default)]
    pub options: Option<Vec<OptionInput>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveEstimate {
    pub option_id: OptionId,
    /// The revision the customer saw; an older one is a 409.
    pub revision: u32,
    /// The customer's name as they gave it (typed signature or over the phone).
    pub approved_by_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineEstimate {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Decision {
    pub approved: bool,
    pub option_id: Option<OptionId>,
    pub revision: u32,
    pub recorded_by: UserId,
    pub customer_name: Option<String>,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub at: OffsetDateTime,
    /// SHA-256 of exactly what was approved (estimate, revision, currency, option).
    pub snapshot_sha256: Option<String>,
    /// When the customer decided through a link: where from, and their consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal: Option<PortalEvidence>,
}

/// What the portal records of a customer's own decision (with the typed name as signature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PortalEvidence {
    pub ip: String,
    pub user_agent: String,
    /// The consent checkbox was ticked (an approval without it is refused).
    pub consent: bool,
    /// The link the decision came through (its id: the token's SHA-256).
    pub link_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Estimate {
    pub id: EstimateId,
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub location_id: Option<LocationId>,
    pub title: String,
    pub currency: Currency,
    #[schemars(with = "crate::schema::Date")]
    #[serde(with = "date")]
    pub valid_until: Date,
    pub options: Vec<EstimateOption>,
    pub status: EstimateStatus,
    /// Document revision: increases when a sent estimate is changed.
    pub revision: u32,
    pub sent_at: Option<String>,
    pub decision: Option<Decision>,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub created_at: OffsetDateTime,
    pub created_by: UserId,
    /// Storage version for optimistic concurrency.
    pub version: u64,
}

mod date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::{format_description::FormatItem, macros::format_description, Date};
    pub const FORMAT: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");
    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&d.format(FORMAT).map_err(serde::ser::Error::custom)?)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let raw = String::deserialize(d)?;
        Date::parse(&raw, FORMAT)
            .map_err(|_| serde::de::Error::custom("expected a date YYYY-MM-DD"))
    }
}

mod opt_date {
    use serde::{Deserialize, Deserializer};
    use time::Date;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        let raw = Option::<String>::deserialize(d)?;
        raw.map(|r| {
            Date::parse(&r, super::date::FORMAT)
                .map_err(|_| serde::de::Error::custom("expected a date YYYY-MM-DD"))
        })
        .transpose()
    }
}

fn check_title(title: &str, errors: &mut Vec<FieldError>) -> String {
    let t = title.trim().to_owned();
    if t.is_empty() || t.chars().count() > 200 {
        errors.push(FieldError {
            field: "title".into(),
            message: "is required, at most 200 characters".into(),
        });
    }
    t
}

fn price_options(
    inputs: &[OptionInput],
    ids: &dyn IdSource,
    errors: &mut Vec<FieldError>,
) -> Vec<EstimateOption> {
    if inputs.is_empty() || inputs.len() > 5 {
        errors.push(FieldError {
            field: "options".into(),
            message: "needs 1 to 5 options".into(),
        });
    }
    inputs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let name = o.name.trim().to_owned();
            if name.is_empty() || name.chars().count() > 60 {
                errors.push(FieldError {
                    field: format!("options[{i}].name"),
                    message: "is required, at most 60 characters".into(),
                });
            }
            let lines = price_lines(&o.lines, &format!("options[{i}].lines"), errors);
            let totals = totals(&lines);
            EstimateOption {
                id: OptionId::new(ids.ulid()),
                name,
                lines,
                totals,
            }
        })
        .collect()
}

fn conflict(msg: &str) -> ApiError {
    ApiError::Conflict(msg.into())
}

impl Estimate {
    pub fn create(
        input: &NewEstimate,
        tenant: &TenantId,
        by: &UserId,
        now: OffsetDateTime,
        ids: &dyn IdSource,
    ) -> Result<Estimate, ApiError> {
        let mut errors = Vec::new();
        let title = check_title(&input.title, &mut errors);
        let options = price_options(&input.options, ids, &mut errors);
        if input.valid_until < now.date() {
            errors.push(FieldError {
                field: "valid_until".into(),
                message: "is in the past".into(),
            });
        }
        if !errors.is_empty() {
            return Err(invalid("the estimate is invalid", errors));
        }
        Ok(Estimate {
            id: EstimateId::new(ids.ulid()),
            tenant_id: tenant.clone(),
            customer_id: input.customer_id,
            location_id: input.location_id,
            title,
            currency: input.currency.clone(),
            valid_until: input.valid_until,
            options,
            status: EstimateStatus::Draft,
            revision: 1,
            sent_at: None,
            decision: None,
            created_at: now,
            created_by: by.clone(),
            version: 1,
        })
    }

    /// The status as of `today`: a sent estimate past its date is expired.
    pub fn effective_status(&self, today: Date) -> EstimateStatus {
        if self.status == EstimateStatus::Sent && self.valid_until < today {
            EstimateStatus::Expired
        } else {
            self.status
        }
    }

    /// As shown to clients: status as of today.
    pub fn view(mut self, today: Date) -> Estimate {
        self.status = self.effective_status(today);
        self
    }

    fn next(&self) -> Estimate {
        let mut e = self.clone();
        e.version += 1;
        e
    }

    pub fn revise(
        &self,
        change: &EstimateRevision,
        now: OffsetDateTime,
        ids: &dyn IdSource,
    ) -> Result<Estimate, ApiError> {
        let mut e = self.next();
        match self.status {
            EstimateStatus::Draft => {}
            EstimateStatus::Sent | EstimateStatus::Expired => {
                // A new revision: the old one can no longer be approved.
                e.revision += 1;
                e.status = EstimateStatus::Draft;
                e.sent_at = None;
            }
            EstimateStatus::Approved | EstimateStatus::Declined => {
                return Err(conflict(
                    "a decided estimate cannot change; create a new estimate",
                ))
            }
        }
        let mut errors = Vec::new();
        if let Some(t) = &change.title {
            e.title = check_title(t, &mut errors);
        }
        if let Some(d) = change.valid_until {
            if d < now.date() {
                errors.push(FieldError {
                    field: "valid_until".into(),
                    message: "is in the past".into(),
                });
            }
            e.valid_until = d;
        }
        if let Some(options) = &change.options {
            e.options = price_options(options, ids, &mut errors);
        }
        if !errors.is_empty() {
            return Err(invalid("the change is invalid", errors));
        }
        Ok(e)
    }

    pub fn send(&self, now: OffsetDateTime) -> Result<Estimate, ApiError> {
        if self.status != EstimateStatus::Draft {
            return Err(conflict("only a draft can be sent"));
        }
        if self.valid_until < now.date() {
            return Err(conflict(
                "the estimate's valid-until date has passed; revise it first",
            ));
        }
        let mut e = self.next();
        e.status = EstimateStatus::Sent;
        e.sent_at = now
            .format(&time::format_description::well_known::Rfc3339)
            .ok();
        Ok(e)
    }

    /// The digest of exactly what an approval of `option` at this revision covers.
    pub fn snapshot_sha256(&self, option: &EstimateOption) -> String {
        let canonical = serde_json::json!({
            "estimate_id": self.id, "revision": self.revision, "currency": self.currency,
            "title": self.title, "option": option,
        });
        Sha256::digest(canonical.to_string().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn approve(
        &self,
        req: &ApproveEstimate,
        by: &UserId,
        now: OffsetDateTime,
    ) -> Result<Estimate, ApiError> {
        match self.effective_status(now.date()) {
            EstimateStatus::Sent => {}
            EstimateStatus::Expired => return Err(conflict("the estimate has expired")),
            _ => return Err(conflict("only a sent estimate can be approved")),
        }
        if req.revision != self.revision {
            return Err(conflict(
                "the estimate changed since that revision was sent",
            ));
        }
        let option = self
            .options
            .iter()
            .find(|o| o.id == req.option_id)
            .ok_or_else(|| {
                ApiError::invalid_field("option_id", "is not an option of this estimate")
            })?;
        let name = req.approved_by_name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::invalid_field(
                "approved_by_name",
                "is required, at most 200 characters",
            ));
        }
        let mut e = self.next();
        e.status = EstimateStatus::Approved;
        e.decision = Some(Decision {
            approved: true,
            option_id: Some(option.id),
            revision: self.revision,
            recorded_by: by.clone(),
            customer_name: Some(name.to_owned()),
            reason: None,
            at: now,
            snapshot_sha256: Some(self.snapshot_sha256(option)),
            portal: None,
        });
        Ok(e)
    }

    pub fn decline(
        &self,
        req: &DeclineEstimate,
        by: &UserId,
        now: OffsetDateTime,
    ) -> Result<Estimate, ApiError> {
        if !matches!(
            self.effective_status(now.date()),
            EstimateStatus::Sent | EstimateStatus::Expired
        ) {
            return Err(conflict("only a sent estimate can be declined"));
        }
        let reason = req
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        if reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
            return Err(ApiError::invalid_field(
                "reason",
                "is longer than 1000 characters",
            ));
        }
        let mut e = self.next();
        e.status = EstimateStatus::Declined;
        e.decision = Some(Decision {
            approved: false,
            option_id: None,
            revision: self.revision,
            recorded_by: by.clone(),
            customer_name: None,
            reason,
            at: now,
            snapshot_sha256: None,
            portal: None,
        });
        Ok(e)
    }

    /// The approved option, if the estimate is approved.
    pub fn approved_option(&self) -> Option<&EstimateOption> {
        let d = self.decision.as_ref().filter(|d| d.approved)?;
        self.options.iter().find(|o| Some(o.id) == d.option_id)
    }

    pub fn to_item(&self) -> Item {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Item::new(),
        }
    }

    pub fn from_item(item: &Item) -> Option<Estimate> {
        crate::store::record_of(item)
    }

    /// Store this estimate: `previous` is the stored version it replaces, if any.
    pub fn write(&self, previous: Option<u64>) -> Write {
        Write::Put {
            key: keys::estimate(&self.tenant_id, &self.id),
            index: Some(keys::customer_index(
                &self.tenant_id,
                &self.customer_id,
                keys::CustomerRecord::Estimate,
                &self.id.to_string(),
            )),
            item: self.to_item(),
            condition: previous
                .map(Condition::VersionIs)
                .unwrap_or(Condition::NotExists),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SystemIds;

    fn estimate() -> Estimate {
        let input: NewEstimate = serde_json::from_value(serde_json::json!({
            "customer_id": CustomerId::new(ulid::Ulid::new()).to_string(),
            "title": "Furnace replacement",
            "valid_until": "2999-01-01",
            "options": [
                {"name": "Good", "lines": [{"description": "80% furnace", "quantity": "1", "unit_price_minor": 350000, "tax_rate": "8.25"}]},
                {"name": "Best", "lines": [{"description": "96% furnace", "quantity": "1", "unit_price_minor": 520000, "tax_rate": "8.25"}]}
            ]
        }))
        .expect("input");
        Estimate::create(
            &input,
            &TenantId::parse("acme").expect("t"),
            &UserId::parse("u").expect("u"),
            OffsetDateTime::now_utc(),
            &SystemIds,
        )
        .expect("valid")
    }

    fn approve(e: &Estimate, revision: u32) -> Result<Estimate, ApiError> {
        let req = ApproveEstimate {
            option_id: e.options[1].id,
            revision,
            approved_by_name: "Pat Doe".into(),
        };
        e.approve(
            &req,
            &UserId::parse("u").expect("u"),
            OffsetDateTime::now_utc(),
        )
    }

    #[test]
    fn lifecycle_draft_sent_approved_with_snapshot() {
        let e = estimate();
        assert_eq!(e.options[0].totals.total_minor, 378_875);
        assert!(
            matches!(approve(&e, 1), Err(ApiError::Conflict(_))),
            "a draft cannot be approved"
        );
        let sent = e.send(OffsetDateTime::now_utc()).expect("send");
        let approved = approve(&sent, 1).expect("approve");
        assert_eq!(approved.status, EstimateStatus::Approved);
        let d = approved.decision.as_ref().expect("decision");
        assert_eq!(
            d.snapshot_sha256.as_deref(),
            Some(sent.snapshot_sha256(&sent.options[1]).as_str())
        );
        assert_eq!(
            approved.approved_option().map(|o| o.name.as_str()),
            Some("Best")
        );
        assert!(matches!(
            approved.send(OffsetDateTime::now_utc()),
            Err(ApiError::Conflict(_))
        ));
        assert!(matches!(
            approved.revise(
                &EstimateRevision::default(),
                OffsetDateTime::now_utc(),
                &SystemIds
            ),
            Err(ApiError::Conflict(_))
        ));
    }

    #[test]
    fn editing_a_sent_estimate_invalidates_the_old_revision() {
        let sent = estimate().send(OffsetDateTime::now_utc()).expect("send");
        let revised = sent
            .revise(
                &EstimateRevision {
                    title: Some("Furnace + thermostat".into()),
                    ..Default::default()
                },
                OffsetDateTime::now_utc(),
                &SystemIds,
            )
            .expect("revise");
        assert_eq!(
            (revised.revision, revised.status),
            (2, EstimateStatus::Draft)
        );
        let resent = revised.send(OffsetDateTime::now_utc()).expect("resend");
        assert!(
            matches!(approve(&resent, 1), Err(ApiError::Conflict(_))),
            "old revision refused"
        );
        assert!(approve(&resent, 2).is_ok());
    }

    #[test]
    fn expired_estimates_cannot_be_approved() {
        let mut sent = estimate().send(OffsetDateTime::now_utc()).expect("send");
        sent.valid_until = Date::from_calendar_date(2000, time::Month::January, 1).expect("date");
        assert_eq!(
            sent.effective_status(OffsetDateTime::now_utc().date()),
            EstimateStatus::Expired
        );
        assert!(matches!(approve(&sent, 1), Err(ApiError::Conflict(_))));
    }
}

/// Loading and saving estimates for the estimate functions.
pub mod store {
    use super::Estimate;
    use crate::actions::Action;
    use crate::authz::Resource;
    use crate::ids::EstimateId;
    use crate::keys;
    use crate::problem::ApiError;
    use crate::request::Ctx;
    use crate::store::TenantStore;

    pub fn resource(e: &Estimate) -> Resource {
        Resource::Record {
            tenant: e.tenant_id.clone(),
            kind: "Estimate",
            id: e.id.to_string(),
        }
    }

    /// Load an estimate of the caller's tenant and authorize `action` on it.
    pub async fn load<S: TenantStore>(
        cx: &Ctx<'_, S>,
        raw_id: &str,
        action: Action,
    ) -> Result<Estimate, ApiError> {
        let id = EstimateId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
        let estimate: Estimate = cx
            .get(&keys::estimate(&cx.caller.tenant, &id))
            .await?
            .ok_or(ApiError::NotFound)?;
        cx.authorize(action, &resource(&estimate)).await?;
        Ok(estimate)
    }

    /// Replace `before` with `after` (conditional on the stored version), audited.
    pub async fn save<S: TenantStore>(
        cx: &Ctx<'_, S>,
        action: Action,
        before: &Estimate,
        after: &Estimate,
    ) -> Result<(), ApiError> {
        let mut writes = vec![after.write(Some(before.version))];
        writes.extend(crate::task::for_estimate(Some(before), after, cx.now()));
        let resource = format!("estimate/{}", after.id);
        cx.commit_change(action, &resource, writes, Some(before), after, "estimate")
            .await
    }
}
