//! Identifiers. Parsed once at the edge; everything inside holds these types, never raw strings.
use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is not a valid identifier")]
pub struct InvalidId {
    pub what: &'static str,
}

/// A shop's tenant id: 3–40 chars of `a-z`, `0-9`, `-`, starting with a letter.
/// The alphabet excludes `#`, `*`, `?` and `$` so a tenant id can never widen a key prefix
/// or an IAM `StringLike` pattern (`T#<tenant>#*`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
#[schemars(with = "crate::schema::TenantIdText")]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let ok = (3..=40).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidId { what: "tenant id" })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user's stable id: the Cognito `sub` (a UUID). Usernames and emails can change; this cannot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
#[schemars(with = "crate::schema::UserIdText")]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let ok = (1..=64).contains(&raw.len())
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidId { what: "user id" })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Random, time-ordered record ids (ULID: 48-bit time + 80 random bits). Never sequential,
/// so an id reveals nothing about volume and cannot be guessed from a neighbour.
macro_rules! ulid_id {
    ($name:ident, $what:literal) => {
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, schemars::JsonSchema,
        )]
        #[schemars(with = "crate::schema::Ulid")]
        pub struct $name(ulid::Ulid);

        impl $name {
            pub fn new(id: ulid::Ulid) -> Self {
                Self(id)
            }
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                if raw.len() != 26 {
                    return Err(InvalidId { what: $what });
                }
                ulid::Ulid::from_string(raw)
                    .map(Self)
                    .map_err(|_| InvalidId { what: $what })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

ulid_id!(CustomerId, "customer id");
ulid_id!(LeadId, "lead id");
ulid_id!(LocationId, "service location id");
ulid_id!(AuditId, "audit id");
ulid_id!(EstimateId, "estimate id");
ulid_id!(OptionId, "option id");
ulid_id!(JobId, "job id");
ulid_id!(VisitId, "visit id");
ulid_id!(InvoiceId, "invoice id");
ulid_id!(PaymentId, "payment id");
ulid_id!(RefundId, "refund id");
ulid_id!(CreditNoteId, "credit note id");
ulid_id!(EvidenceId, "evidence id");

/// Where new ids and the current time come from; injected so tests are deterministic.
pub trait IdSource: Send + Sync {
    fn ulid(&self) -> ulid::Ulid;
}

/// Production ids: ULIDs from the system clock and the OS random generator.
pub struct SystemIds;

impl IdSource for SystemIds {
    fn ulid(&self) -> ulid::Ulid {
        ulid::Ulid::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_refuse_key_and_pattern_metacharacters() {
        for bad in [
            "a#b", "ab*", "ab?", "a$b", "AB", "1abc", "ab", "", "a b", "a/b",
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(
            TenantId::parse("acme-hvac-2").map(|t| t.to_string()),
            Ok("acme-hvac-2".into())
        );
    }

    #[test]
    fn ulid_ids_round_trip_and_refuse_junk() {
        let id = CustomerId::new(ulid::Ulid::new());
        assert_eq!(CustomerId::parse(&id.to_string()), Ok(id));
        assert!(CustomerId::parse("../../etc").is_err());
        assert!(CustomerId::parse("T#other#CUST#01J").is_err());
    }

    #[test]
    fn user_ids_are_uuid_like() {
        assert!(UserId::parse("3f1c2a9e-0000-4000-8000-000000000001").is_ok());
        assert!(UserId::parse("x#y").is_err());
    }
}
