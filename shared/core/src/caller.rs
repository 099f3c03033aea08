//! Who is calling: built only from claims the JWT authorizer has already verified.
//!
//! Tenant and role come from Cognito groups (`tenant:<id>` and one role group), which only
//! server-side admin calls can change. Cognito access tokens carry no custom attributes
//! (`custom:tenant_id` reaches only the id token), so groups are how the verified access token
//! names the tenant. A tenant id in a body, query or header is never consulted.
use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{TenantId, UserId};

/// The five roles of a shop. Deny by default: a role grants only what the policy lists.
/// Parsed from the five shop role names only: no request body or stored record can name the
/// payment provider's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase", try_from = "String")]
#[schemars(with = "crate::schema::ShopRole")]
pub enum Role {
    Owner,
    Admin,
    Dispatcher,
    Technician,
    Accounting,
    /// Not a shop role: the payment provider's signed webhook acting inside one tenant. No
    /// token can carry it (`parse` knows only the five shop roles), and the policy lets it
    /// record payments and nothing else.
    #[serde(rename = "payment_provider")]
    #[schemars(skip)]
    PaymentProvider,
    /// Not a shop role: a customer holding a link, acting inside the link's tenant. No token
    /// can carry it; the policy lets it do only the portal's actions.
    #[serde(rename = "customer")]
    #[schemars(skip)]
    Customer,
    /// Not a shop role: the telephony provider's signed webhook acting inside one tenant. No
    /// token can carry it, and the policy lets it record calls and nothing else.
    #[serde(rename = "telephony_provider")]
    #[schemars(skip)]
    TelephonyProvider,
}

impl TryFrom<String> for Role {
    type Error = String;
    fn try_from(raw: String) -> Result<Role, String> {
        Role::parse(&raw).ok_or_else(|| format!("{raw:?} is not a role"))
    }
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Dispatcher,
        Role::Technician,
        Role::Accounting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Dispatcher => "dispatcher",
            Role::Technician => "technician",
            Role::Accounting => "accounting",
            Role::PaymentProvider => "payment_provider",
            Role::Customer => "customer",
            Role::TelephonyProvider => "telephony_provider",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// The Cognito group that grants this role.
    pub fn group_name(self) -> &'static str {
        self.as_str()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Prefix of the Cognito group that places a user in a tenant.
pub const TENANT_GROUP_PREFIX: &str = "tenant:";

pub fn tenant_group_name(tenant: &TenantId) -> String {
    format!("{TENANT_GROUP_PREFIX}{tenant}")
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    pub user: UserId,
    pub role: Role,
    pub username: String,
    /// Identifies one sign-in (Cognito `origin_jti`); used to record the first use of a sign-in.
    pub sign_in_id: Option<String>,
    /// When the user signed in (Cognito `auth_time`, else the token's `iat`), Unix seconds.
    /// Tokens from a sign-in at or before a revocation of the user's sessions are refused.
    pub signed_in_at: Option<i64>,
    /// Cognito's `auth_time` alone (never `iat`, which a refreshed token renews), Unix
    /// seconds: when the user last presented their password. A first MFA enrollment needs it
    /// recent (`mfa::fresh_sign_in`).
    pub auth_time: Option<i64>,
}

/// Why verified claims still do not make a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallerError {
    #[error("the request carries no verified identity")]
    Unauthenticated,
    #[error("an access token is required")]
    NotAccessToken,
    #[error("the token does not place the user in exactly one tenant")]
    NoSingleTenant,
    #[error("the token does not give the user exactly one role")]
    NoSingleRole,
    #[error("the token's subject is malformed")]
    BadSubject,
}

impl Caller {
    /// Build the caller from the authorizer's claims (API Gateway HTTP API passes every claim
    /// as a string; arrays arrive as `[a b c]`).
    pub fn from_claims(claims: &HashMap<String, String>) -> Result<Caller, CallerError> {
        let sub = claims.get("sub").ok_or(CallerError::Unauthenticated)?;
        if claims.get("token_use").map(String::as_str) != Some("access") {
            return Err(CallerError::NotAccessToken);
        }
        let user = UserId::parse(sub).map_err(|_| CallerError::BadSubject)?;
        let groups = claims
            .get("cognito:groups")
            .map(|g| parse_string_list(g))
            .unwrap_or_default();

        let mut tenants = groups
            .iter()
            .filter_map(|g| g.strip_prefix(TENANT_GROUP_PREFIX))
            .map(TenantId::parse);
        let tenant = match (tenants.next(), tenants.next()) {
            (Some(Ok(t)), None) => t,
            _ => return Err(CallerError::NoSingleTenant),
        };
        let mut roles = groups.iter().filter_map(|g| Role::parse(g));
        let role = match (roles.next(), roles.next()) {
            (Some(r), None) => r,
            _ => return Err(CallerError::NoSingleRole),
        };
        let username = claims
            .get("username")
            .cloned()
            .unwrap_or_else(|| user.to_string());
        Ok(Caller {
            tenant,
            user,
            role,
            username,
            sign_in_id: claims.get("origin_jti").cloned(),
            signed_in_at: ["auth_time", "iat"]
                .iter()
                .find_map(|c| claims.get(*c).and_then(|v| v.trim().parse::<i64>().ok())),
            auth_time: claims
                .get("auth_time")
                .and_then(|v| v.trim().parse::<i64>().ok()),
        })
    }
}

/// Parse a claim that holds a list: API Gateway's `[a b]` or a JSON array string.
pub fn parse_string_list(raw: &str) -> Vec<String> {
    let trimmed = raw.trim();
    // Only a JSON array of strings starts `["`; API Gateway's form is tried without first
    // building a JSON error for it (this runs on every request).
    let json = trimmed
        .strip_prefix('[')
        .is_some_and(|rest| rest.trim_start().starts_with('"'));
    if json {
        if let Ok(list) = serde_json::from_str::<Vec<String>>(trimmed) {
            return list;
        }
    }
    trimmed
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_token_can_carry_the_payment_provider_role() {
        assert_eq!(Role::parse("payment_provider"), None);
        assert!(serde_json::from_str::<Role>("\"payment_provider\"").is_err());
        assert_eq!(
            serde_json::from_str::<Role>("\"accounting\"").ok(),
            Some(Role::Accounting)
        );
        let c = Caller::from_claims(&claims(&[
            ("sub", "u1"),
            ("token_use", "access"),
            ("cognito:groups", "[tenant:acme payment_provider]"),
        ]));
        assert_eq!(c, Err(CallerError::NoSingleRole));
    }

    #[test]
    fn no_token_can_carry_the_telephony_provider_role() {
        assert_eq!(Role::parse("telephony_provider"), None);
        assert!(serde_json::from_str::<Role>("\"telephony_provider\"").is_err());
        let c = Caller::from_claims(&claims(&[
            ("sub", "u1"),
            ("token_use", "access"),
            ("cognito:groups", "[tenant:acme telephony_provider]"),
        ]));
        assert_eq!(c, Err(CallerError::NoSingleRole));
    }

    #[test]
    fn caller_from_api_gateway_claims() {
        let c = Caller::from_claims(&claims(&[
            ("sub", "0d1e-22"),
            ("token_use", "access"),
            ("cognito:groups", "[tenant:acme dispatcher]"),
            ("username", "dee"),
        ]));
        let c = c.expect("valid caller");
        assert_eq!(c.tenant.as_str(), "acme");
        assert_eq!(c.role, Role::Dispatcher);
        assert_eq!(c.signed_in_at, None);
    }

    #[test]
    fn the_sign_in_time_is_auth_time_else_iat() {
        let base = [
            ("sub", "u1"),
            ("token_use", "access"),
            ("cognito:groups", "[tenant:acme owner]"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            Caller::from_claims(&claims(&all))
                .expect("caller")
                .signed_in_at
        };
        assert_eq!(with(&[("iat", "200"), ("auth_time", "100")]), Some(100));
        assert_eq!(with(&[("iat", "200")]), Some(200));
        assert_eq!(with(&[("iat", "soon")]), None);
    }

    #[test]
    fn auth_time_is_never_taken_from_iat() {
        let base = [
            ("sub", "u1"),
            ("token_use", "access"),
            ("cognito:groups", "[tenant:acme owner]"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            Caller::from_claims(&claims(&all))
                .expect("caller")
                .auth_time
        };
        assert_eq!(with(&[("iat", "200"), ("auth_time", "100")]), Some(100));
        assert_eq!(with(&[("iat", "200")]), None);
        assert_eq!(with(&[("auth_time", "soon")]), None);
    }

    #[test]
    fn refuses_id_tokens_and_ambiguous_groups() {
        let id_token = claims(&[
            ("sub", "u1"),
            ("token_use", "id"),
            ("cognito:groups", "[tenant:acme owner]"),
        ]);
        assert_eq!(
            Caller::from_claims(&id_token),
            Err(CallerError::NotAccessToken)
        );
        let two_tenants = claims(&[
            ("sub", "u1"),
            ("token_use", "access"),
            ("cognito:groups", "[tenant:acme tenant:other owner]"),
        ]);
        assert_eq!(
            Caller::from_claims(&two_tenants),
            Err(CallerError::NoSingleTenant)
        );
        let two_roles = claims(&[
            ("sub", "u1"),
            ("token_use", "access"),
            ("cognito:groups", "[tenant:acme owner technician]"),
        ]);
        assert_eq!(
            Caller::from_claims(&two_roles),
            Err(CallerError::NoSingleRole)
        );
        let no_groups = claims(&[("sub", "u1"), ("token_use", "access")]);
        assert_eq!(
            Caller::from_claims(&no_groups),
            Err(CallerError::NoSingleTenant)
        );
    }

    #[test]
    fn lists_parse_in_both_shapes() {
        assert_eq!(parse_string_list("[a b]"), vec!["a", "b"]);
        assert_eq!(parse_string_list(r#"["a","b"]"#), vec!["a", "b"]);
        assert_eq!(parse_string_list(r#" [ "a b", "c" ] "#), vec!["a b", "c"]);
        assert_eq!(
            parse_string_list("[tenant:acme owner]"),
            vec!["tenant:acme", "owner"]
        );
        assert!(parse_string_list("[]").is_empty());
        assert!(parse_string_list("").is_empty());
    }
}
