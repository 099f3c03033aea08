//! Employee HR records: legal name, tax id and bank details of a user of the shop.
//!
//! Deny by default: only owners reach them (Cedar policy, and again at the data layer: the
//! `HR#` key kind is refused to every other session by the tenant role's policy), after an
//! `hr_records` step-up, and every read is recorded in the audit trail before anything is
//! read. The tax id and the bank details are stored only as sealed fields (KMS envelope
//! encryption, `sealed.rs`). The full tax id and account number are never serialized to any
//! client: the input type cannot be serialized at all, and the view type holds only
//! [`LastFour`]s, which can only be built from the last four characters.
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{TenantId, UserId};
use crate::keys;
use crate::problem::{ApiError, FieldError};
use crate::sealed::{FieldContext, SealError, SealedField};
use crate::store::{Condition, Item, Write};

/// Encryption-context purposes of the sealed fields.
pub const TAX_ID_PURPOSE: &str = "hr.tax_id";
pub const BANK_PURPOSE: &str = "hr.bank_account";

/// The last (up to) four characters of an identifier: all a client ever sees of it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct LastFour(String);

impl LastFour {
    /// The last four characters of `full` (which is normalized: ASCII letters and digits).
    pub fn of(full: &str) -> LastFour {
        let chars: Vec<char> = full.chars().collect();
        let start = chars.len().saturating_sub(4);
        LastFour(chars[start..].iter().collect())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LastFour {
    type Error = String;
    fn try_from(raw: String) -> Result<LastFour, String> {
        if raw.chars().count() <= 4 && raw.chars().all(|c| c.is_ascii_alphanumeric()) {
            Ok(LastFour(raw))
        } else {
            Err("not a last four".into())
        }
    }
}

impl fmt::Debug for LastFour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "…{}", self.0)
    }
}

/// `PUT /users/{id}/hr`: the whole record (it replaces what is stored). Deserialize only:
/// this type cannot be serialized, so it can never reach a response, a log line as JSON, or
/// an audit diff.
#[derive(Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HrRecordInput {
    pub legal_name: String,
    /// Tax id (SSN, EIN, TIN…): letters and digits; spaces and dashes are ignored.
    pub tax_id: String,
    /// Bank routing number, sort code or BIC: 6 to 11 letters and digits.
    pub bank_routing_number: String,
    /// Bank account number or IBAN: 4 to 34 letters and digits.
    pub bank_account_number: String,
}

impl fmt::Debug for HrRecordInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HrRecordInput { .. }")
    }
}

/// A validated input: identifiers normalized (uppercase letters and digits only).
pub struct ValidHrInput {
    pub legal_name: String,
    pub tax_id: String,
    pub bank_routing_number: String,
    pub bank_account_number: String,
}

/// What the bank-details sealed field holds.
#[derive(Serialize, Deserialize)]
pub struct BankDetails {
    pub routing_number: String,
    pub account_number: String,
}

fn normalize(raw: &str) -> Option<String> {
    let mut out = String::new();
    for c in raw.chars() {
        match c {
            ' ' | '-' => {}
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_uppercase()),
            _ => return None,
        }
    }
    Some(out)
}

impl HrRecordInput {
    pub fn validate(&self) -> Result<ValidHrInput, ApiError> {
        let mut errors = Vec::new();
        let mut field =
            |name: &str, raw: &str, min: usize, max: usize, what: &str| match normalize(raw)
                .filter(|n| (min..=max).contains(&n.len()))
            {
                Some(n) => n,
                None => {
                    errors.push(FieldError {
                        field: name.into(),
                        message: format!(
                        "{what}: {min} to {max} letters and digits (spaces and dashes are ignored)"
                    ),
                    });
                    String::new()
                }
            };
        let tax_id = field("tax_id", &self.tax_id, 4, 20, "a tax id");
        let bank_routing_number = field(
            "bank_routing_number",
            &self.bank_routing_number,
            6,
            11,
            "a routing number",
        );
        let bank_account_number = field(
            "bank_account_number",
            &self.bank_account_number,
            4,
            34,
            "an account number",
        );
        let legal_name = self.legal_name.trim().to_owned();
        if legal_name.is_empty() || legal_name.chars().count() > 200 {
            errors.push(FieldError {
                field: "legal_name".into(),
                message: "1 to 200 characters".into(),
            });
        }
        if !errors.is_empty() {
            return Err(ApiError::BadRequest {
                detail: "the HR record is invalid".into(),
                errors,
            });
        }
        Ok(ValidHrInput {
            legal_name,
            tax_id,
            bank_routing_number,
            bank_account_number,
        })
    }
}

/// The sealed-field contexts of one employee's record.
pub fn tax_id_context(t: &TenantId, u: &UserId) -> Result<FieldContext, SealError> {
    FieldContext::new(t, TAX_ID_PURPOSE, &record_id(u))
}

pub fn bank_context(t: &TenantId, u: &UserId) -> Result<FieldContext, SealError> {
    FieldContext::new(t, BANK_PURPOSE, &record_id(u))
}

fn record_id(u: &UserId) -> String {
    format!("hr/{u}")
}

/// The stored record.
#[derive(Clone, Serialize, Deserialize)]
pub struct HrRecord {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub legal_name: String,
    pub tax_id: SealedField,
    pub tax_id_last4: LastFour,
    /// [`BankDetails`] as JSON, sealed.
    pub bank: SealedField,
    pub bank_account_last4: LastFour,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub updated_by: UserId,
}

/// What a client sees of an HR record: never the full tax id or account number.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct HrRecordView {
    pub user_id: String,
    pub legal_name: String,
    /// The last four characters of the tax id.
    #[schemars(with = "String")]
    pub tax_id_last4: LastFour,
    /// The last four characters of the bank account number.
    #[schemars(with = "String")]
    pub bank_account_last4: LastFour,
    pub version: u64,
    /// RFC 3339.
    pub updated_at: String,
    pub updated_by: String,
}

impl HrRecord {
    pub fn view(&self) -> HrRecordView {
        HrRecordView {
            user_id: self.user_id.to_string(),
            legal_name: self.legal_name.clone(),
            tax_id_last4: self.tax_id_last4.clone(),
            bank_account_last4: self.bank_account_last4.clone(),
            version: self.version,
            updated_at: self
                .updated_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            updated_by: self.updated_by.to_string(),
        }
    }

    pub fn write(&self, previous: Option<u64>) -> Write {
        let item = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Item::new(),
        };
        Write::Put {
            key: keys::hr_record(&self.tenant_id, &self.user_id),
            index: None,
            item,
            condition: previous
                .map(Condition::VersionIs)
                .unwrap_or(Condition::NotExists),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(tax: &str, account: &str) -> HrRecordInput {
        HrRecordInput {
            legal_name: " Pat Doe ".into(),
            tax_id: tax.into(),
            bank_routing_number: "011000015".into(),
            bank_account_number: account.into(),
        }
    }

    #[test]
    fn identifiers_are_normalized_and_checked() {
        let v = input("123-45-6789", "0001 2345 6789")
            .validate()
            .expect("ok");
        assert_eq!(v.tax_id, "123456789");
        assert_eq!(v.bank_account_number, "000123456789");
        assert_eq!(v.legal_name, "Pat Doe");
        for (tax, account) in [("12", "123456"), ("123456789", "12"), ("12#4567", "123456")] {
            assert!(input(tax, account).validate().is_err(), "{tax} {account}");
        }
    }

    #[test]
    fn only_the_last_four_can_be_built_or_parsed() {
        assert_eq!(LastFour::of("123456789").as_str(), "6789");
        assert_eq!(LastFour::of("12").as_str(), "12");
        assert!(serde_json::from_value::<LastFour>("123456789".into()).is_err());
        assert!(serde_json::from_value::<LastFour>("6789".into()).is_ok());
        // The input cannot leak through Debug either.
        assert!(!format!("{:?}", input("123-45-6789", "000123456789")).contains("6789"));
    }
}
