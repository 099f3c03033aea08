//! Customer links: a 256-bit random token in the URL; only its SHA-256 is stored, with the
//! tenant, purpose, document and version, expiry and single-use flag.
//!
//! The token is `<tenant>.<43 base64url chars>`: the tenant part only chooses the partition the
//! link record is looked up in (a wrong tenant finds nothing); the random part is the secret.
//! A link dies when it expires, is used (single-use purposes), is revoked, or its document
//! changes (another estimate revision, a voided or settled invoice).
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::ids::{CustomerId, TenantId, UserId};
use crate::keys;
use crate::problem::ApiError;
use crate::store::{Condition, Item, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    /// Read a document.
    View,
    /// Approve or decline an estimate (single use).
    Approve,
    /// Pay an invoice (until it is settled or voided).
    Pay,
    /// Read and download a document.
    Document,
    /// The customer's sign-in to see all their documents (single use, 30 minutes).
    SignIn,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::View => "view",
            LinkPurpose::Approve => "approve",
            LinkPurpose::Pay => "pay",
            LinkPurpose::Document => "document",
            LinkPurpose::SignIn => "sign_in",
        }
    }

    pub fn single_use(self) -> bool {
        matches!(self, LinkPurpose::Approve | LinkPurpose::SignIn)
    }
}

/// How long each purpose's links live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTtls {
    pub document: Duration,
    pub sign_in: Duration,
}

impl Default for LinkTtls {
    fn default() -> Self {
        LinkTtls {
            document: Duration::days(7),
            sign_in: Duration::minutes(30),
        }
    }
}

impl LinkTtls {
    pub fn for_purpose(&self, p: LinkPurpose) -> Duration {
        match p {
            LinkPurpose::SignIn => self.sign_in,
            _ => self.document,
        }
    }

    /// From `FV_LINK_TTL_MINUTES`-style values: document links 5 minutes to 90 days, sign-in
    /// links 1 to 60 minutes.
    pub fn new(document_minutes: Option<i64>, sign_in_minutes: Option<i64>) -> Option<LinkTtls> {
        let d = LinkTtls::default();
        let document = document_minutes.map_or(Some(d.document), |m| {
            (5..=90 * 24 * 60)
                .contains(&m)
                .then(|| Duration::minutes(m))
        })?;
        let sign_in = sign_in_minutes.map_or(Some(d.sign_in), |m| {
            (1..=60).contains(&m).then(|| Duration::minutes(m))
        })?;
        Some(LinkTtls { document, sign_in })
    }
}

/// What a link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Estimate,
    Invoice,
    /// All of one customer's documents (sign-in links).
    Customer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Link {
    /// SHA-256 of the token (hex): the record's key and the id staff revoke it by.
    pub id: String,
    pub tenant_id: TenantId,
    pub purpose: LinkPurpose,
    pub document_kind: DocumentKind,
    pub document_id: String,
    /// The document's version the link was made for (estimate revision; invoice number).
    pub document_version: u64,
    pub customer_id: CustomerId,
    pub single_use: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub expires_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<crate::schema::DateTime>")]
    pub used_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<crate::schema::DateTime>")]
    pub revoked_at: Option<OffsetDateTime>,
    pub created_by: String,
    pub version: u64,
}

/// What staff get back when a link is made (the token appears here and in the outbox only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct IssuedLink {
    pub url: String,
    pub link_id: String,
    pub purpose: LinkPurpose,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub expires_at: OffsetDateTime,
}

/// A record as sent to the customer, with the link made for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Sent<T> {
    #[serde(flatten)]
    pub record: T,
    pub link: IssuedLink,
}

/// Why a link does not open (the customer sees the same neutral page for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Expired,
    Used,
    Revoked,
    /// The document changed or was voided, settled or decided.
    Stale,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unknown => "unknown link",
            Refusal::Expired => "expired link",
            Refusal::Used => "used link",
            Refusal::Revoked => "revoked link",
            Refusal::Stale => "the document changed",
        }
    }
}

pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh token for `tenant` from 32 random bytes: (token, id = SHA-256 of its secret part).
pub fn new_token(tenant: &TenantId, random: [u8; 32]) -> (String, String) {
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
    let id = hash_secret(&secret);
    (format!("{tenant}.{secret}"), id)
}

/// The tenant and link id a presented token names, if it is shaped like a token at all.
pub fn parse_token(raw: &str) -> Option<(TenantId, String)> {
    let (tenant, secret) = raw.split_once('.')?;
    let ok = secret.len() == 43
        && secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return None;
    }
    Some((TenantId::parse(tenant).ok()?, hash_secret(secret)))
}

impl Link {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        tenant: &TenantId,
        purpose: LinkPurpose,
        document_kind: DocumentKind,
        document_id: String,
        document_version: u64,
        customer_id: CustomerId,
        by: &str,
        now: OffsetDateTime,
        ttls: &LinkTtls,
    ) -> Link {
        Link {
            id,
            tenant_id: tenant.clone(),
            purpose,
            document_kind,
            document_id,
            document_version,
            customer_id,
            single_use: purpose.single_use(),
            created_at: now,
            expires_at: now + ttls.for_purpose(purpose),
            used_at: None,
            revoked_at: None,
            created_by: by.into(),
            version: 1,
        }
    }

    /// Whether the link still opens (the document's own state is checked by the caller).
    pub fn check(&self, now: OffsetDateTime) -> Result<(), Refusal> {
        if self.revoked_at.is_some() {
            return Err(Refusal::Revoked);
        }
        if self.single_use && self.used_at.is_some() {
            return Err(Refusal::Used);
        }
        if now >= self.expires_at {
            return Err(Refusal::Expired);
        }
        Ok(())
    }

    /// Used once (single-use links die here; the write is conditional on the version read).
    pub fn consume(&self, now: OffsetDateTime) -> Link {
        let mut next = self.clone();
        next.version += 1;
        next.used_at = Some(now);
        next
    }

    pub fn revoke(&self, now: OffsetDateTime) -> Result<Link, ApiError> {
        if self.revoked_at.is_some() {
            return Err(ApiError::Conflict("the link is already revoked".into()));
        }
        let mut next = self.clone();
        next.version += 1;
        next.revoked_at = Some(now);
        Ok(next)
    }

    pub fn write(&self, previous: Option<u64>) -> Write {
        let item = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Item::new(),
        };
        Write::Put {
            key: keys::link(&self.tenant_id, &self.id),
            index: None,
            item,
            condition: previous
                .map(Condition::VersionIs)
                .unwrap_or(Condition::NotExists),
        }
    }

    pub fn issued(&self, token: &str, base_url: &str) -> IssuedLink {
        IssuedLink {
            url: format!("{}/portal/l/{token}", base_url.trim_end_matches('/')),
            link_id: self.id.clone(),
            purpose: self.purpose,
            expires_at: self.expires_at,
        }
    }
}

/// A message waiting to be sent to a customer. The link inside is sealed (KMS, the tenant in
/// the encryption context): the token is never stored readable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OutboxMessage {
    pub id: String,
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub channel: String,
    pub to: String,
    pub subject: String,
    /// The link, sealed (KMS envelope encryption, the tenant in the context), as JSON.
    pub sealed_link: String,
    pub link_id: String,
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub created_at: OffsetDateTime,
    pub created_by: UserId,
}

impl OutboxMessage {
    pub fn write(&self) -> Write {
        let item = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Item::new(),
        };
        Write::Put {
            key: keys::outbox(&self.tenant_id, &self.id),
            index: None,
            item,
            condition: Condition::NotExists,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> TenantId {
        TenantId::parse("acme").expect("t")
    }

    #[test]
    fn tokens_carry_256_random_bits_and_only_their_hash_is_the_id() {
        let (token, id) = new_token(&t(), [7u8; 32]);
        let secret = token.split_once('.').map(|(_, s)| s).unwrap_or_default();
        assert_eq!(secret.len(), 43, "32 bytes in unpadded base64url");
        assert_eq!(id.len(), 64);
        assert!(!id.contains(secret) && !secret.contains(&id));
        assert_eq!(parse_token(&token), Some((t(), id.clone())));
        let (_, other) = new_token(&t(), [8u8; 32]);
        assert_ne!(id, other);
        assert_eq!(
            hash_secret(secret),
            id,
            "SHA-256 of the secret part, nothing else"
        );
    }

    #[test]
    fn malformed_tokens_are_nothing() {
        for raw in [
            "",
            "acme",
            "acme.",
            "acme.short",
            &format!("acme.{}", "a".repeat(44)),
            &format!("acme.{}", "a/".repeat(21) + "a"),
            &format!("ACME#x.{}", "a".repeat(43)),
        ] {
            assert_eq!(parse_token(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn links_expire_are_used_once_and_can_be_revoked() {
        let now = OffsetDateTime::now_utc();
        let make = |p| {
            Link::new(
                "h".into(),
                &t(),
                p,
                DocumentKind::Estimate,
                "e".into(),
                1,
                CustomerId::new(ulid::Ulid::new()),
                "u",
                now,
                &LinkTtls::default(),
            )
        };
        let approve = make(LinkPurpose::Approve);
        assert_eq!(approve.check(now), Ok(()));
        assert_eq!(approve.expires_at - now, Duration::days(7));
        assert_eq!(
            approve.check(now + Duration::days(7)),
            Err(Refusal::Expired)
        );
        let used = approve.consume(now);
        assert_eq!(used.check(now), Err(Refusal::Used));
        let pay = make(LinkPurpose::Pay);
        assert_eq!(
            pay.consume(now).check(now),
            Ok(()),
            "pay links are not single-use"
        );
        let revoked = pay.revoke(now).expect("revoke");
        assert_eq!(revoked.check(now), Err(Refusal::Revoked));
        assert!(revoked.revoke(now).is_err());
        let sign_in = make(LinkPurpose::SignIn);
        assert_eq!(sign_in.expires_at - now, Duration::minutes(30));
        assert!(sign_in.single_use);
    }

    #[test]
    fn ttls_are_configurable_within_bounds() {
        let ttl = LinkTtls::new(Some(60), Some(10)).expect("ttl");
        assert_eq!(ttl.for_purpose(LinkPurpose::Pay), Duration::minutes(60));
        assert_eq!(ttl.for_purpose(LinkPurpose::SignIn), Duration::minutes(10));
        assert!(LinkTtls::new(Some(1), None).is_none());
        assert!(LinkTtls::new(None, Some(61)).is_none());
    }
}
