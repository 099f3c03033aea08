//! The tenant's ledger: one entry for every money event (an invoice issued or voided, a credit
//! note, a payment, a refund), written in the same transaction as the event itself, so the
//! accounting export is complete by construction. Entries live in month partitions and are
//! never changed.
use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime};

use crate::ids::{CustomerId, TenantId};
use crate::keys;
use crate::money::Currency;
use crate::problem::ApiError;
use crate::store::{Condition, Item, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    InvoiceIssued,
    InvoiceVoided,
    CreditNote,
    Payment,
    Refund,
}

impl EntryKind {
    fn as_str(self) -> &'static str {
        match self {
            EntryKind::InvoiceIssued => "invoice_issued",
            EntryKind::InvoiceVoided => "invoice_voided",
            EntryKind::CreditNote => "credit_note",
            EntryKind::Payment => "payment",
            EntryKind::Refund => "refund",
        }
    }
}

/// One ledger line. `amount_minor` is signed from the shop's point of view of what it is
/// owed: invoices add, voids and credit notes subtract; payments and refunds are cash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Entry {
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub at: OffsetDateTime,
    pub kind: EntryKind,
    /// The document or payment this entry records.
    pub document_id: String,
    /// Invoice or credit-note number, where there is one.
    pub number: Option<u64>,
    pub customer_id: CustomerId,
    pub amount_minor: i64,
    pub currency: Currency,
}

fn month_of(d: Date) -> String {
    format!("{:04}-{:02}", d.year(), u8::from(d.month()))
}

impl Entry {
    /// The write that records this entry (created once; the sort key is unique per event).
    pub fn write(&self, tenant: &TenantId) -> Write {
        let at = self
            .at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let sort = format!("{at}#{}#{}", self.kind.as_str(), self.document_id);
        let item = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Item::new(),
        };
        Write::Put {
            key: keys::ledger_entry(tenant, &month_of(self.at.date()), &sort),
            index: None,
            item,
            condition: Condition::NotExists,
        }
    }
}

/// An export period: whole days, `from` to `to` inclusive, at most 366 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Date,
    pub to: Date,
}

impl Period {
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Period, ApiError> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let day = |field: &str, raw: Option<&str>| {
            raw.and_then(|r| Date::parse(r, &format).ok())
                .ok_or_else(|| ApiError::invalid_field(field, "is required, as YYYY-MM-DD"))
        };
        let (from, to) = (day("from", from)?, day("to", to)?);
        if to < from || (to - from).whole_days() > 366 {
            return Err(ApiError::invalid_field(
                "to",
                "must be on or after from, at most 366 days later",
            ));
        }
        Ok(Period { from, to })
    }

    /// The month partitions the period touches, in order.
    pub fn months(&self) -> Vec<String> {
        let mut months = Vec::new();
        let (mut year, mut month) = (self.from.year(), self.from.month());
        loop {
            months.push(format!("{year:04}-{:02}", u8::from(month)));
            if (year, month as u8) >= (self.to.year(), self.to.month() as u8) {
                break;
            }
            if month == Month::December {
                year += 1;
            }
            month = month.next();
        }
        months
    }

    pub fn contains(&self, at: OffsetDateTime) -> bool {
        let d = at.date();
        self.from <= d && d <= self.to
    }
}

/// What `GET /accounting/export` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Export {
    pub from: String,
    pub to: String,
    pub entries: Vec<Entry>,
    /// Sums per kind, in minor units (one currency per tenant is assumed by the sums; entries
    /// carry their own currency).
    pub invoiced_minor: i64,
    pub voided_minor: i64,
    pub credited_minor: i64,
    pub received_minor: i64,
    pub refunded_minor: i64,
}

impl Export {
    pub fn new(period: &Period, mut entries: Vec<Entry>) -> Export {
        entries.retain(|e| period.contains(e.at));
        entries.sort_by(|a, b| a.at.cmp(&b.at).then(a.document_id.cmp(&b.document_id)));
        let sum = |k: EntryKind| -> i64 {
            entries
                .iter()
                .filter(|e| e.kind == k)
                .map(|e| e.amount_minor.abs())
                .sum()
        };
        Export {
            from: period.from.to_string(),
            to: period.to.to_string(),
            invoiced_minor: sum(EntryKind::InvoiceIssued),
            voided_minor: sum(EntryKind::InvoiceVoided),
            credited_minor: sum(EntryKind::CreditNote),
            received_minor: sum(EntryKind::Payment),
            refunded_minor: sum(EntryKind::Refund),
            entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_whole_days_within_a_year() {
        let p = Period::parse(Some("2026-11-20"), Some("2027-02-03")).expect("period");
        assert_eq!(p.months(), vec!["2026-11", "2026-12", "2027-01", "2027-02"]);
        assert!(Period::parse(Some("2026-11-20"), Some("2026-11-19")).is_err());
        assert!(Period::parse(Some("2025-01-01"), Some("2026-11-19")).is_err());
        assert!(Period::parse(None, Some("2026-11-19")).is_err());
        assert!(Period::parse(Some("20-11-2026"), Some("2026-11-19")).is_err());
        let one = Period::parse(Some("2026-11-20"), Some("2026-11-20")).expect("one day");
        assert_eq!(one.months(), vec!["2026-11"]);
    }

    #[test]
    fn the_export_keeps_the_period_and_sums_by_kind() {
        let p = Period::parse(Some("2026-11-01"), Some("2026-11-30")).expect("period");
        let c = CustomerId::new(ulid::Ulid::new());
        let entry = |day: u8, kind, amount| Entry {
            at: Date::from_calendar_date(2026, Month::November, day)
                .expect("date")
                .midnight()
                .assume_utc(),
            kind,
            document_id: format!("d{day}"),
            number: None,
            customer_id: c,
            amount_minor: amount,
            currency: Currency::default(),
        };
        let mut out = vec![
            entry(3, EntryKind::InvoiceIssued, 10_000),
            entry(4, EntryKind::Payment, 6_000),
            entry(5, EntryKind::CreditNote, -1_000),
            entry(6, EntryKind::Refund, -500),
        ];
        out.push(Entry {
            at: OffsetDateTime::UNIX_EPOCH,
            ..entry(1, EntryKind::Payment, 99)
        });
        let e = Export::new(&p, out);
        assert_eq!(e.entries.len(), 4);
        assert_eq!(
            (
                e.invoiced_minor,
                e.received_minor,
                e.credited_minor,
                e.refunded_minor
            ),
            (10_000, 6_000, 1_000, 500)
        );
    }
}

/// The entries of each money event, built from the records they describe.
pub mod entries {
    use super::{Entry, EntryKind};
    use crate::credit_note::CreditNote;
    use crate::invoice::Invoice;
    use crate::payment::{Payment, Refund};
    use time::OffsetDateTime;

    pub fn invoice_issued(i: &Invoice) -> Entry {
        Entry {
            at: i.issued_at.unwrap_or(i.created_at),
            kind: EntryKind::InvoiceIssued,
            document_id: i.id.to_string(),
            number: i.number,
            customer_id: i.customer_id,
            amount_minor: i.totals.total_minor,
            currency: i.currency.clone(),
        }
    }

    pub fn invoice_voided(i: &Invoice, now: OffsetDateTime) -> Entry {
        Entry {
            at: now,
            kind: EntryKind::InvoiceVoided,
            amount_minor: -i.totals.total_minor,
            ..invoice_issued(i)
        }
    }

    pub fn credit_note(n: &CreditNote) -> Entry {
        Entry {
            at: n.issued_at,
            kind: EntryKind::CreditNote,
            document_id: n.id.to_string(),
            number: Some(n.credit_note_number),
            customer_id: n.customer_id,
            amount_minor: -n.amount_minor,
            currency: n.currency.clone(),
        }
    }

    pub fn payment(p: &Payment) -> Entry {
        Entry {
            at: p.received_at,
            kind: EntryKind::Payment,
            document_id: p.id.to_string(),
            number: None,
            customer_id: p.customer_id,
            amount_minor: p.amount_minor,
            currency: p.currency.clone(),
        }
    }

    pub fn refund(p: &Payment, r: &Refund, now: OffsetDateTime) -> Entry {
        Entry {
            at: now,
            kind: EntryKind::Refund,
            document_id: r.id.to_string(),
            amount_minor: -r.amount_minor,
            ..payment(p)
        }
    }
}
