//! Credit notes: the only way an issued invoice owes less. Each has its own number from the
//! tenant's credit-note sequence (gapless, like invoice numbers), is issued together with the
//! invoice's new credited total in one transaction, and never changes afterwards.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{CreditNoteId, CustomerId, IdSource, InvoiceId, TenantId, UserId};
use crate::invoice::Invoice;
use crate::keys;
use crate::money::Currency;
use crate::problem::ApiError;
use crate::store::{Condition, Item, Write};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCreditNote {
    /// Tax-inclusive amount credited, at most what the invoice has not been credited yet.
    pub amount_minor: i64,
    pub reason: String,
    /// From the prepare call: absent, the call only prepares (202 with a summary).
    #[serde(default)]
    pub confirmation_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CreditNote {
    pub id: CreditNoteId,
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub invoice_id: InvoiceId,
    pub invoice_number: u64,
    /// CN-1, CN-2, … per tenant, no gaps.
    pub credit_note_number: u64,
    pub amount_minor: i64,
    pub currency: Currency,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub issued_at: OffsetDateTime,
    pub issued_by: UserId,
}

impl CreditNote {
    /// The note and the invoice it credits (the caller commits both with the number).
    pub fn issue(
        invoice: &Invoice,
        input: &NewCreditNote,
        number: u64,
        by: &UserId,
        now: OffsetDateTime,
        ids: &dyn IdSource,
    ) -> Result<(CreditNote, Invoice), ApiError> {
        let reason = input.reason.trim();
        if reason.is_empty() || reason.chars().count() > 1000 {
            return Err(ApiError::invalid_field(
                "reason",
                "is required, at most 1000 characters",
            ));
        }
        if input.amount_minor <= 0 {
            return Err(ApiError::invalid_field("amount_minor", "must be positive"));
        }
        let credited = invoice.apply_credit(input.amount_minor)?;
        let note = CreditNote {
            id: CreditNoteId::new(ids.ulid()),
            tenant_id: invoice.tenant_id.clone(),
            customer_id: invoice.customer_id,
            invoice_id: invoice.id,
            invoice_number: invoice.number.unwrap_or_default(),
            credit_note_number: number,
            amount_minor: input.amount_minor,
            currency: invoice.currency.clone(),
            reason: reason.to_owned(),
            issued_at: now,
            issued_by: by.clone(),
        };
        Ok((note, credited))
    }

    pub fn from_item(item: &Item) -> Option<CreditNote> {
        crate::store::record_of(item)
    }

    pub fn write(&self) -> Write {
        let item = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Item::new(),
        };
        Write::Put {
            key: keys::credit_note(&self.tenant_id, &self.id),
            index: Some(keys::customer_index(
                &self.tenant_id,
                &self.customer_id,
                keys::CustomerRecord::CreditNote,
                &self.id.to_string(),
            )),
            item,
            condition: Condition::NotExists,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SystemIds;
    use crate::invoice::NewInvoice;

    fn issued(total: i64) -> Invoice {
        let input: NewInvoice = serde_json::from_value(serde_json::json!({
            "customer_id": CustomerId::new(ulid::Ulid::new()).to_string(),
            "lines": [{"description": "Repair", "quantity": "1", "unit_price_minor": total}]
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
        .issue(3, OffsetDateTime::now_utc())
        .expect("issued")
    }

    fn note(amount: i64) -> NewCreditNote {
        NewCreditNote {
            amount_minor: amount,
            reason: "goodwill".into(),
            confirmation_id: None,
        }
    }

    #[test]
    fn credits_reduce_the_balance_and_never_exceed_the_total() {
        let invoice = issued(10_000);
        let by = UserId::parse("u").expect("u");
        let now = OffsetDateTime::now_utc();
        let (cn, credited) =
            CreditNote::issue(&invoice, &note(4_000), 1, &by, now, &SystemIds).expect("first");
        assert_eq!((cn.credit_note_number, cn.invoice_number), (1, 3));
        assert_eq!(credited.balance(), 6_000);
        assert!(matches!(
            CreditNote::issue(&credited, &note(6_001), 2, &by, now, &SystemIds),
            Err(ApiError::Conflict(_))
        ));
        let (_, all) =
            CreditNote::issue(&credited, &note(6_000), 2, &by, now, &SystemIds).expect("rest");
        assert_eq!(all.balance(), 0);
    }

    #[test]
    fn drafts_are_not_credited_and_a_reason_is_required() {
        let by = UserId::parse("u").expect("u");
        let now = OffsetDateTime::now_utc();
        let mut draft = issued(100);
        draft.status = crate::invoice::InvoiceStatus::Draft;
        assert!(CreditNote::issue(&draft, &note(10), 1, &by, now, &SystemIds).is_err());
        let blank = NewCreditNote {
            reason: " ".into(),
            ..note(10)
        };
        assert!(CreditNote::issue(&issued(100), &blank, 1, &by, now, &SystemIds).is_err());
    }
}
