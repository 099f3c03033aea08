//! JSON Schemas for values whose Rust type serializes as a string with rules of its own, so
//! the OpenAPI document says what the API accepts and answers (formats and patterns), not
//! just "a string".
use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

/// A ULID as the ids of records are written: 26 characters of Crockford base32, either case
/// (what the parser accepts; ids the API makes start with `0`-`7`).
pub const ULID_PATTERN: &str = "^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$";

/// A user id (the Cognito `sub`): 1–64 ASCII letters, digits and dashes.
pub const USER_ID_PATTERN: &str = "^[A-Za-z0-9-]{1,64}$";

/// A tenant id: 3–40 of `a-z`, `0-9`, `-`, starting with a letter.
pub const TENANT_ID_PATTERN: &str = "^[a-z][a-z0-9-]{2,39}$";

/// A link id: the SHA-256 of the link's secret, lower-case hex.
pub const LINK_ID_PATTERN: &str = "^[0-9a-f]{64}$";

/// A link token: the tenant id, a dot, 43 base64url characters (256 random bits).
pub const LINK_TOKEN_PATTERN: &str = "^[a-z][a-z0-9-]{2,39}\\.[A-Za-z0-9_-]{43}$";

/// An RFC 3339 timestamp (`time::serde::rfc3339`).
pub struct DateTime;

impl JsonSchema for DateTime {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "DateTime".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date-time" })
    }
}

/// A calendar day, `YYYY-MM-DD`.
pub struct Date;

impl JsonSchema for Date {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Date".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date" })
    }
}

/// A record id (ULID).
pub struct Ulid;

impl JsonSchema for Ulid {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Ulid".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": ULID_PATTERN })
    }
}

/// A user id.
pub struct UserIdText;

impl JsonSchema for UserIdText {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "UserId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": USER_ID_PATTERN })
    }
}

/// A tenant id.
pub struct TenantIdText;

impl JsonSchema for TenantIdText {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "TenantId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": TENANT_ID_PATTERN })
    }
}

/// One of the five shop roles: the only role names a request can carry.
pub struct ShopRole;

impl JsonSchema for ShopRole {
    fn schema_name() -> Cow<'static, str> {
        "Role".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = crate::caller::Role::ALL
            .iter()
            .map(|r| r.as_str())
            .collect();
        json_schema!({ "type": "string", "enum": names })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, value: &str) -> bool {
        regex_lite::Regex::new(pattern)
            .expect("pattern")
            .is_match(value)
    }

    /// Each documented pattern accepts what the API's parser accepts and refuses what it
    /// refuses, on the edge cases of each.
    #[test]
    fn documented_patterns_agree_with_the_parsers() {
        use crate::ids::{CustomerId, TenantId, UserId};
        let ulid = ulid::Ulid::new().to_string();
        for value in [
            ulid.as_str(),
            &ulid.to_lowercase(),
            "7ZZZZZZZZZZZZZZZZZZZZZZZZZ",
            "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
            "01ARZ3NDEKTSV4RRFFQ69G5FA",
            "01ARZ3NDEKTSV4RRFFQ69G5FAVX",
            "01ARZ3NDEKTSV4RRFFQ69G5FAU",
            "",
        ] {
            assert_eq!(
                matches(ULID_PATTERN, value),
                CustomerId::parse(value).is_ok(),
                "{value}"
            );
        }
        for value in ["6f1c-aa", "a", "a_b", "", &"a".repeat(64), &"a".repeat(65)] {
            assert_eq!(
                matches(USER_ID_PATTERN, value),
                UserId::parse(value).is_ok(),
                "{value}"
            );
        }
        for value in [
            "acme-hvac",
            "ab",
            "abc",
            "9acme",
            "Acme",
            &"a".repeat(40),
            &"a".repeat(41),
        ] {
            assert_eq!(
                matches(TENANT_ID_PATTERN, value),
                TenantId::parse(value).is_ok(),
                "{value}"
            );
        }
        let (token, id) =
            crate::link::new_token(&TenantId::parse("acme-hvac").expect("tenant"), [7; 32]);
        assert!(matches(LINK_ID_PATTERN, &id));
        for value in [
            token.as_str(),
            &token.replace("acme-hvac", "9x"),
            &token[..token.len() - 1],
            &format!("{token}a"),
            "acme-hvac",
        ] {
            assert_eq!(
                matches(LINK_TOKEN_PATTERN, value),
                crate::link::parse_token(value).is_some(),
                "{value}"
            );
        }
    }
}
