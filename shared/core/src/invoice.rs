//! Invoices: drafts are editable; issuing allocates the tenant's next invoice number in the
//! same transaction (unique, gapless, never reused); issued invoices change only through later
//! documents (credit notes, voids: they arrive with MFA step-up). Balance and overdue are
//! derived, never stored as truth.
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::ids::{CustomerId, EstimateId, IdSource, InvoiceId, JobId, TenantId, UserId};
use crate::keys;
use crate::money::{invalid, price_lines, totals, Currency, Line, LineInput, Totals};
use crate::problem::{ApiError, FieldError};
use crate::store::{Condition, Item, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Issued,
    /// Canceled after issue: keeps its number (never reused), owes nothing.
    Void,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidInvoice {
    pub reason: String,
    /// From the prepare call: absent, the call only prepares (202 with a summary).
    #[serde(default)]
    pub confirmation_id: Option<String>,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    #[default]
    Standard,
    /// Billed up front on an approved estimate, before the work.
    Deposit,
}

/// A deposit on an approved estimate: a percentage of the approved option's total, or a fixed
/// amount no larger than it. Exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositInput {
    /// Percent with up to 2 decimals, more than 0 and at most 100: "25", "33.33".
    #[serde(default)]
    pub percent: Option<String>,
    #[serde(default)]
    pub amount_minor: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvoice {
    pub customer_id: CustomerId,
    /// Bill this job: its approved estimate option's lines are copied (plus any `lines`).
    #[serde(default)]
    pub job_id: Option<JobId>,
    /// With `deposit`: the approved estimate the deposit is on.
    #[serde(default)]
    pub estimate_id: Option<EstimateId>,
    /// A deposit invoice (needs `estimate_id`; no `job_id` or `lines`).
    #[serde(default)]
    pub deposit: Option<DepositInput>,
    #[serde(default)]
    pub lines: Vec<LineInput>,
    #[serde(default)]
    pub currency: Currency,
    /// Days from issue until due (default 30).
    #[serde(default = "thirty")]
    pub due_in_days: u16,
}

fn thirty() -> u16 {
    30
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceRevision {
    #[serde(default)]
    pub lines: Option<Vec<LineInput>>,
    #[serde(default)]
    pub due_in_days: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Invoice {
    pub id: InvoiceId,
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub job_id: Option<JobId>,
    pub estimate_id: Option<EstimateId>,
    pub status: InvoiceStatus,
    #[serde(default)]
    pub kind: InvoiceKind,
    /// Allocated when issued: 1, 2, 3… per tenant, no gaps.
    pub number: Option<u64>,
    pub currency: Currency,
    pub lines: Vec<Line>,
    pub totals: Totals,
    pub due_in_days: u16,
    #[schemars(with = "Option<crate::schema::Date>")]
    #[serde(default, with = "opt_date")]
    pub due_date: Option<Date>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<crate::schema::DateTime>")]
    pub issued_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub void_reason: Option<String>,
    /// Net of payments allocated to this invoice (less what was refunded from them).
    pub paid_minor: i64,
    /// Sum of the credit notes issued against this invoice.
    #[serde(default)]
    pub credited_minor: i64,
    /// Derived on read: total − credited − paid (negative when the customer is owed money).
    pub balance_minor: i64,
    /// Derived on read: issued, unpaid and past its due date.
    pub overdue: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub created_at: OffsetDateTime,
    pub created_by: UserId,
    pub version: u64,
}

mod opt_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::{format_description::FormatItem, macros::format_description, Date};
    const FORMAT: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");
    pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&d.format(FORMAT).map_err(serde::ser::Error::custom)?),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|r| {
                Date::parse(&r, FORMAT).map_err(|_| serde::de::Error::custom("expected YYYY-MM-DD"))
            })
            .transpose()
    }
}

fn check_due(days: u16, errors: &mut Vec<FieldError>) {
    if days > 365 {
        errors.push(FieldError {
            field: "due_in_days".into(),
            message: "is at most 365".into(),
        });
    }
}

impl Invoice {
    /// A draft from `copied` lines (a job's approved option) plus `input.lines`.
    pub fn create(
        input: &NewInvoice,
        copied: Vec<Line>,
        estimate_id: Option<EstimateId>,
        tenant: &TenantId,
        by: &UserId,
        now: OffsetDateTime,
        ids: &dyn IdSource,
    ) -> Result<Invoice, ApiError> {
        let mut errors = Vec::new();
        check_due(input.due_in_days, &mut errors);
        let mut lines = copied;
        if !input.lines.is_empty() || lines.is_empty() {
            lines.extend(price_lines(&input.lines, "lines", &mut errors));
        }
        if lines.len() > 100 {
            errors.push(FieldError {
                field: "lines".into(),
                message: "an invoice has at most 100 lines".into(),
            });
        }
        if !errors.is_empty() {
            return Err(invalid("the invoice is invalid", errors));
        }
        let totals = totals(&lines);
        Ok(Invoice {
            id: InvoiceId::new(ids.ulid()),
            tenant_id: tenant.clone(),
            customer_id: input.customer_id,
            job_id: input.job_id,
            estimate_id,
            status: InvoiceStatus::Draft,
            kind: InvoiceKind::Standard,
            number: None,
            currency: input.currency.clone(),
            lines,
            totals,
            due_in_days: input.due_in_days,
            due_date: None,
            issued_at: None,
            void_reason: None,
            paid_minor: 0,
            credited_minor: 0,
            balance_minor: totals.total_minor,
            overdue: false,
            created_at: now,
            created_by: by.clone(),
            version: 1,
        })
    }

    /// A draft deposit invoice on `estimate`'s approved option: one untaxed line.
    pub fn deposit(
        input: &NewInvoice,
        estimate: &crate::estimate::Estimate,
        by: &UserId,
        now: OffsetDateTime,
        ids: &dyn IdSource,
    ) -> Result<Invoice, ApiError> {
        let Some(deposit) = &input.deposit else {
            return Err(ApiError::invalid_field("deposit", "is required"));
        };
        if input.job_id.is_some() || !input.lines.is_empty() {
            return Err(ApiError::invalid_field(
                "deposit",
                "a deposit invoice has no job_id and no lines",
            ));
        }
        if estimate.customer_id != input.customer_id {
            return Err(ApiError::invalid_field(
                "estimate_id",
                "is not an estimate of this customer",
            ));
        }
        let option = estimate.approved_option().ok_or_else(|| {
            ApiError::Conflict("a deposit is billed only on an approved estimate".into())
        })?;
        let total = option.totals.total_minor;
        let (amount, label) = match (&deposit.percent, deposit.amount_minor) {
            (Some(p), None) => {
                let basis_points = crate::money::parse_percent_e2(p)
                    .filter(|bp| *bp > 0 && *bp <= 10_000)
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            "deposit.percent",
                            "must be more than 0 and at most 100, with at most 2 decimals",
                        )
                    })?;
                (
                    crate::money::percent_of(total, basis_points),
                    format!("Deposit ({}%)", p.trim()),
                )
            }
            (None, Some(a)) if a > 0 && a <= total => (a, "Deposit".to_owned()),
            (None, Some(_)) => {
                return Err(ApiError::invalid_field(
                    "deposit.amount_minor",
                    "must be more than 0 and at most the approved option's total",
                ))
            }
            _ => {
                return Err(ApiError::invalid_field(
                    "deposit",
                    "needs exactly one of percent and amount_minor",
                ))
            }
        };
        if amount <= 0 {
            return Err(ApiError::invalid_field(
                "deposit",
                "comes to nothing on this estimate",
            ));
        }
        let line = LineInput {
            description: format!("{label} on estimate option \"{}\"", option.name),
            quantity: "1".into(),
            unit_price_minor: amount,
            tax_rate: "0".into(),
        };
        let mut errors = Vec::new();
        let lines = price_lines(&[line], "deposit", &mut errors);
        if !errors.is_empty() {
            return Err(invalid("the deposit is invalid", errors));
        }
        let standard = NewInvoice {
            deposit: None,
            estimate_id: None,
            lines: Vec::new(),
            currency: estimate.currency.clone(),
            ..input.clone()
        };
        let mut invoice = Invoice::create(
            &standard,
            lines,
            Some(estimate.id),
            &estimate.tenant_id,
            by,
            now,
            ids,
        )?;
        invoice.kind = InvoiceKind::Deposit;
        Ok(invoice)
    }

    /// As shown: balance and overdue derived as of `today`.
    pub fn view(mut self, today: Date) -> Invoice {
        self.balance_minor = self.balance();
        self.overdue = self.status == InvoiceStatus::Issued
            && self.balance_minor > 0
            && self.due_date.is_some_and(|d| d < today);
        self
    }

    pub fn revise(&self, r: &InvoiceRevision) -> Result<Invoice, ApiError> {
        if self.status != InvoiceStatus::Draft {
            return Err(ApiError::Conflict(
                "an issued invoice changes only through a credit note or a void".into(),
            ));
        }
        let mut next = self.clone();
        next.version += 1;
        let mut errors = Vec::new();
        if let Some(days) = r.due_in_days {
            check_due(days, &mut errors);
            next.due_in_days = days;
        }
        if let Some(lines) = &r.lines {
            next.lines = price_lines(lines, "lines", &mut errors);
            next.totals = totals(&next.lines);
        }
        if !errors.is_empty() {
            return Err(invalid("the change is invalid", errors));
        }
        Ok(next)
    }

    /// Issue with `number`; the caller allocates it in the same transaction.
    pub fn issue(&self, number: u64, now: OffsetDateTime) -> Result<Invoice, ApiError> {
        if self.status != InvoiceStatus::Draft {
            return Err(ApiError::Conflict("the invoice is already issued".into()));
        }
        if self.totals.total_minor <= 0 {
            return Err(ApiError::Conflict(
                "an invoice for nothing cannot be issued".into(),
            ));
        }
        let mut next = self.clone();
        next.version += 1;
        next.status = InvoiceStatus::Issued;
        next.number = Some(number);
        next.issued_at = Some(now);
        next.due_date = Some(now.date() + time::Duration::days(i64::from(self.due_in_days)));
        Ok(next)
    }

    /// Void an issued, unpaid invoice (the caller has stepped up with MFA).
    pub fn void(&self, v: &VoidInvoice) -> Result<Invoice, ApiError> {
        if self.status != InvoiceStatus::Issued {
            return Err(ApiError::Conflict(
                "only an issued invoice can be voided".into(),
            ));
        }
        if self.paid_minor > 0 {
            return Err(ApiError::Conflict(
                "a paid invoice is corrected with a credit note, not voided".into(),
            ));
        }
        let reason = v.reason.trim();
        if reason.is_empty() || reason.chars().count() > 1000 {
            return Err(ApiError::invalid_field(
                "reason",
                "is required, at most 1000 characters",
            ));
        }
        let mut next = self.clone();
        next.version += 1;
        next.status = InvoiceStatus::Void;
        next.void_reason = Some(reason.to_owned());
        Ok(next)
    }

    /// What is still owed (negative when overpaid); nothing on a void invoice.
    pub fn balance(&self) -> i64 {
        match self.status {
            InvoiceStatus::Void => 0,
            _ => self.totals.total_minor - self.credited_minor - self.paid_minor,
        }
    }

    /// A payment of `amount` allocated to this issued invoice.
    pub fn apply_payment(&self, amount: i64) -> Result<Invoice, ApiError> {
        if self.status != InvoiceStatus::Issued {
            return Err(ApiError::Conflict(
                "payments are allocated only to issued invoices".into(),
            ));
        }
        if amount <= 0 || amount > self.balance() {
            return Err(ApiError::Conflict(format!(
                "invoice #{} has a balance of {} minor units",
                self.number.unwrap_or_default(),
                self.balance()
            )));
        }
        let mut next = self.clone();
        next.version += 1;
        next.paid_minor += amount;
        Ok(next)
    }

    /// `amount` of an allocated payment was refunded: the invoice owes it again.
    pub fn reverse_payment(&self, amount: i64) -> Result<Invoice, ApiError> {
        if amount <= 0 || amount > self.paid_minor {
            return Err(ApiError::Conflict(
                "more would be refunded than was paid on the invoice".into(),
            ));
        }
        let mut next = self.clone();
        next.version += 1;
        next.paid_minor -= amount;
        Ok(next)
    }

    /// A credit note of `amount` against this issued invoice.
    pub fn apply_credit(&self, amount: i64) -> Result<Invoice, ApiError> {
        if self.status != InvoiceStatus::Issued {
            return Err(ApiError::Conflict(
                "credit notes are issued only against issued invoices".into(),
            ));
        }
        let creditable = self.totals.total_minor - self.credited_minor;
        if amount <= 0 || amount > creditable {
            return Err(ApiError::Conflict(format!(
                "at most {creditable} minor units can still be credited on this invoice"
            )));
        }
        let mut next = self.clone();
        next.version += 1;
        next.credited_minor += amount;
        Ok(next)
    }

    pub fn to_item(&self) -> Item {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Item::new(),
        }
    }

    pub fn from_item(item: &Item) -> Option<Invoice> {
        crate::store::record_of(item)
    }

    pub fn write(&self, previous: Option<u64>) -> Write {
        Write::Put {
            key: keys::invoice(&self.tenant_id, &self.id),
            index: Some(keys::customer_index(
                &self.tenant_id,
                &self.customer_id,
                keys::CustomerRecord::Invoice,
                &self.id.to_string(),
            )),
            item: self.to_item(),
            condition: previous
                .map(Condition::VersionIs)
                .unwrap_or(Condition::NotExists),
        }
    }
}

/// The tenant's invoice counter: `version` holds the next number to allocate.
pub fn counter_write(tenant: &TenantId, stored_next: Option<u64>) -> (u64, Write) {
    sequence_write(keys::invoice_counter(tenant), stored_next)
}

/// A gapless sequence at `key` (`version` holds the next number): the number to use and the
/// write that claims it, conditional on nobody having claimed it first.
pub fn sequence_write(key: keys::Key, stored_next: Option<u64>) -> (u64, Write) {
    let number = stored_next.unwrap_or(1);
    let mut item = Item::new();
    item.insert("version".into(), serde_json::json!(number + 1));
    let write = Write::Put {
        key,
        index: None,
        item,
        condition: stored_next
            .map(Condition::VersionIs)
            .unwrap_or(Condition::NotExists),
    };
    (number, write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SystemIds;

    fn draft() -> Invoice {
        let input: NewInvoice = serde_json::from_value(serde_json::json!({
            "customer_id": CustomerId::new(ulid::Ulid::new()).to_string(),
            "lines": [{"description": "Service call", "quantity": "1", "unit_price_minor": 12900, "tax_rate": "0"}],
            "due_in_days": 15
        }))
        .expect("input");
        Invoice::create(
            &input,
            vec![],
            None,
            &TenantId::parse("acme").expect("t"),
            &UserId::parse("u").expect("u"),
            OffsetDateTime::now_utc(),
            &SystemIds,
        )
        .expect("draft")
    }

    #[test]
    fn issuing_fixes_number_and_due_date_and_freezes_the_invoice() {
        let d = draft();
        let issued = d.issue(7, OffsetDateTime::now_utc()).expect("issue");
        assert_eq!(issued.number, Some(7));
        assert!(issued.due_date.is_some());
        assert!(matches!(
            issued.issue(8, OffsetDateTime::now_utc()),
            Err(ApiError::Conflict(_))
        ));
        assert!(matches!(
            issued.revise(&InvoiceRevision::default()),
            Err(ApiError::Conflict(_))
        ));
    }

    #[test]
    fn balance_and_overdue_are_derived() {
        let mut issued = draft().issue(1, OffsetDateTime::now_utc()).expect("issue");
        issued.paid_minor = 2900;
        let today = OffsetDateTime::now_utc().date();
        let v = issued.clone().view(today);
        assert_eq!((v.balance_minor, v.overdue), (10000, false));
        let later = issued.clone().view(today + time::Duration::days(16));
        assert!(later.overdue);
        issued.paid_minor = 12900;
        assert!(
            !issued.view(today + time::Duration::days(16)).overdue,
            "paid invoices are not overdue"
        );
    }

    #[test]
    fn the_counter_allocates_in_sequence() {
        let t = TenantId::parse("acme").expect("t");
        let (first, w) = counter_write(&t, None);
        assert_eq!(first, 1);
        assert!(matches!(
            w,
            Write::Put {
                condition: Condition::NotExists,
                ..
            }
        ));
        let (n, w) = counter_write(&t, Some(42));
        assert_eq!(n, 42);
        assert!(matches!(
            w,
            Write::Put {
                condition: Condition::VersionIs(42),
                ..
            }
        ));
    }
}

/// Loading and saving invoices for the invoice functions.
pub mod store {
    use super::{counter_write, Invoice};
    use crate::actions::Action;
    use crate::authz::Resource;
    use crate::ids::InvoiceId;
    use crate::keys;
    use crate::problem::ApiError;
    use crate::request::{store_error, Ctx};
    use crate::store::{Item, StoreError, TenantStore};

    pub fn resource(i: &Invoice) -> Resource {
        Resource::Record {
            tenant: i.tenant_id.clone(),
            kind: "Invoice",
            id: i.id.to_string(),
        }
    }

    pub async fn load<S: TenantStore>(
        cx: &Ctx<'_, S>,
        raw_id: &str,
        action: Action,
    ) -> Result<Invoice, ApiError> {
        let id = InvoiceId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
        let invoice: Invoice = cx
            .get(&keys::invoice(&cx.caller.tenant, &id))
            .await?
            .ok_or(ApiError::NotFound)?;
        cx.authorize(action, &resource(&invoice)).await?;
        Ok(invoice)
    }

    pub async fn save<S: TenantStore>(
        cx: &Ctx<'_, S>,
        action: Action,
        before: &Invoice,
        after: &Invoice,
    ) -> Result<(), ApiError> {
        let mut writes = vec![after.write(Some(before.version))];
        writes.extend(crate::task::for_invoice(Some(before), after));
        if before.status == super::InvoiceStatus::Issued
            && after.status == super::InvoiceStatus::Void
        {
            writes.push(
                crate::ledger::entries::invoice_voided(after, cx.now()).write(&after.tenant_id),
            );
        }
        let resource = format!("invoice/{}", after.id);
        cx.commit_change(action, &resource, writes, Some(before), after, "invoice")
            .await
    }

    /// The tenant's invoice counter as stored (`None` before the first invoice).
    pub async fn read_counter<S: TenantStore>(cx: &Ctx<'_, S>) -> Result<Option<Item>, ApiError> {
        cx.store
            .get(&keys::invoice_counter(&cx.caller.tenant))
            .await
            .map_err(store_error)
    }

    /// Try to issue `draft` with the counter as just read (`read_counter`): the counter's next
    /// number and the issued invoice commit together, so a number is used exactly when an
    /// invoice is issued with it. `Ok(None)` means a concurrent issue took the number (or
    /// touched the counter): read it again and retry.
    pub async fn try_issue<S: TenantStore>(
        cx: &Ctx<'_, S>,
        draft: &Invoice,
        stored: Option<Item>,
    ) -> Result<Option<Invoice>, ApiError> {
        let stored_next = stored.and_then(|c| c.get("version").and_then(|v| v.as_u64()));
        let (number, counter) = counter_write(&cx.caller.tenant, stored_next);
        let issued = draft.issue(number, cx.now())?;
        let b = serde_json::to_value(draft).map_err(|_| ApiError::Internal)?;
        let a = serde_json::to_value(&issued).map_err(|_| ApiError::Internal)?;
        let mut writes = vec![
            counter,
            issued.write(Some(draft.version)),
            crate::ledger::entries::invoice_issued(&issued).write(&issued.tenant_id),
        ];
        writes.extend(crate::task::for_invoice(Some(draft), &issued));
        match cx
            .commit(
                Action::IssueInvoice,
                &format!("invoice/{}", issued.id),
                writes,
                Some(&b),
                Some(&a),
            )
            .await
        {
            Ok(()) => Ok(Some(issued)),
            Err(StoreError::ConditionFailed { index: 0 }) | Err(StoreError::Contention) => Ok(None),
            Err(StoreError::ConditionFailed { .. }) => Err(ApiError::Conflict(
                "the invoice changed meanwhile or is already issued".into(),
            )),
            Err(e) => Err(store_error(e)),
        }
    }
}
