//! Payments: what the provider captured, kept only as display-safe metadata (provider
//! reference, method, brand, last four, status, amount), allocated to invoices, and refunded
//! never beyond what was captured. Card numbers never reach us: customers pay on the
//! provider's checkout page.
//!
//! Each tenant is its own merchant of record: it has its own account at the provider (a
//! connected account), created or linked at onboarding and stored on the tenant, and every
//! provider call for the tenant (checkout, lookup, refund) is made on that account. Another
//! shop's payment is therefore "no such payment" to every call a tenant can make, and a payment
//! is recorded only when the provider reports it on the tenant's account with no metadata
//! naming another tenant.
//!
//! Refunds reserve before they call the provider: the reservation (payment, invoices, audit)
//! commits under the payment's version, so of two concurrent refunds that together exceed the
//! captured amount one is refused before any money moves.
use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{CustomerId, IdSource, InvoiceId, PaymentId, RefundId, TenantId};
use crate::keys;
use crate::money::Currency;
use crate::problem::ApiError;
use crate::store::{Condition, Item, Write};
use crate::webhook::WebhookError;

/// Metadata keys a checkout carries so the provider's events lead back to the invoice.
pub const META_TENANT: &str = "tenant_id";
pub const META_INVOICE: &str = "invoice_id";
pub const META_CUSTOMER: &str = "customer_id";
const META_KEYS: [&str; 3] = [META_TENANT, META_INVOICE, META_CUSTOMER];

/// A tenant's own account at the payment provider (a connected account, the merchant of
/// record for that shop's payments). Not a secret: it names where calls are made, the
/// platform's API key authorizes them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct ProviderAccount(String);

impl ProviderAccount {
    pub fn parse(raw: &str) -> Result<ProviderAccount, crate::ids::InvalidId> {
        if is_token(raw, 64) {
            Ok(ProviderAccount(raw.to_owned()))
        } else {
            Err(crate::ids::InvalidId {
                what: "payment provider account",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ProviderAccount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for ProviderAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a payment route answers for a tenant that has no provider account yet.
pub fn no_account() -> ApiError {
    ApiError::Conflict(
        "this shop has no account at the payment provider yet, so it cannot take, record or refund payments; the platform operator links one (fieldvault-ops link-payment-account)".into(),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderPaymentStatus {
    Succeeded,
    Pending,
    Failed,
}

/// A payment as the provider reports it. Only these fields are read; anything else the
/// provider sends is dropped, never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProviderPayment {
    /// The provider's reference for the payment.
    pub id: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub status: ProviderPaymentStatus,
    /// `card`, `ach_debit`, …
    pub method: String,
    #[serde(default)]
    pub brand: Option<String>,
    /// The last four digits of the card or account, nothing more.
    #[serde(default)]
    pub last4: Option<String>,
    /// The provider account (the shop) that captured it.
    #[serde(default)]
    pub account: Option<ProviderAccount>,
    /// What the checkout attached (tenant, invoice, customer); `checked` keeps only those.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

fn is_token(raw: &str, max: usize) -> bool {
    !raw.is_empty()
        && raw.len() <= max
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl ProviderPayment {
    /// Refuse anything that is not plainly display-safe metadata.
    pub fn checked(self) -> Result<ProviderPayment, String> {
        if !is_token(&self.id, 64) {
            return Err("payment reference is not a provider reference".into());
        }
        if self.amount_minor <= 0 || self.amount_minor > 1_000_000_000_000 {
            return Err("payment amount is out of range".into());
        }
        if !is_token(&self.method, 24) {
            return Err("payment method is not a method name".into());
        }
        if self.brand.as_deref().is_some_and(|b| !is_token(b, 24)) {
            return Err("card brand is not a brand name".into());
        }
        if self
            .last4
            .as_deref()
            .is_some_and(|l| l.len() != 4 || !l.chars().all(|c| c.is_ascii_digit()))
        {
            return Err("last4 is not four digits".into());
        }
        let mut checked = self;
        checked
            .metadata
            .retain(|k, _| META_KEYS.contains(&k.as_str()));
        if checked.metadata.values().any(|v| v.len() > 64) {
            return Err("payment metadata is not ours".into());
        }
        Ok(checked)
    }

    /// Whether this payment is the tenant's: captured on its provider account, and with no
    /// metadata naming another tenant (a payment taken on a terminal carries none).
    pub fn belongs_to(&self, tenant: &TenantId, account: &ProviderAccount) -> bool {
        self.account.as_ref() == Some(account)
            && self
                .metadata
                .get(META_TENANT)
                .is_none_or(|t| t == tenant.as_str())
    }
}

/// A provider event, as delivered to the webhook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProviderEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The provider account the event happened on: it decides the tenant it may touch.
    #[serde(default)]
    pub account: Option<ProviderAccount>,
    pub data: EventData,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventData {
    #[serde(default)]
    pub payment: Option<ProviderPayment>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// The event type that records a captured payment; others are acknowledged and ignored.
pub const PAYMENT_SUCCEEDED: &str = "payment.succeeded";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckoutRequest {
    pub amount_minor: i64,
    pub currency: Currency,
    pub description: String,
    pub metadata: BTreeMap<String, String>,
    pub success_url: String,
    pub cancel_url: String,
}

/// A hosted checkout page at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Checkout {
    pub id: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProviderRefund {
    pub id: String,
    pub status: ProviderPaymentStatus,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the request (an answer, not an outage).
    #[error("the payment provider refused: {0}")]
    Refused(String),
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
}

/// The port to a payment provider. The local stack's sandbox implements it over HTTP; a real
/// provider's adapter implements the same calls. Every call about payments names the tenant's
/// provider account: the provider answers only about that account's payments.
pub trait PaymentProvider: Send + Sync {
    /// The name references and events are keyed under.
    fn name(&self) -> &'static str;
    /// Open an account for a shop (onboarding), its merchant of record at the provider.
    fn create_account(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> impl Future<Output = Result<ProviderAccount, ProviderError>> + Send;
    fn create_checkout(
        &self,
        account: &ProviderAccount,
        request: &CheckoutRequest,
    ) -> impl Future<Output = Result<Checkout, ProviderError>> + Send;
    /// The payment, if `account` holds it (another account's payment is `None`).
    fn payment(
        &self,
        account: &ProviderAccount,
        reference: &str,
    ) -> impl Future<Output = Result<Option<ProviderPayment>, ProviderError>> + Send;
    /// Refund `amount_minor` of a payment on `account`; the provider dedupes by
    /// `idempotency_key`.
    fn refund(
        &self,
        account: &ProviderAccount,
        reference: &str,
        amount_minor: i64,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<ProviderRefund, ProviderError>> + Send;
    /// Verify a webhook delivery's signature on the raw body, then parse it.
    fn verify_event(
        &self,
        signature: Option<&str>,
        raw_body: &[u8],
        now_unix: i64,
    ) -> Result<ProviderEvent, WebhookError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Captured,
    PartiallyRefunded,
    Refunded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentSource {
    /// The customer paid on the provider's checkout; the provider's webhook reported it.
    Checkout,
    /// Staff recorded a payment the provider holds (taken on a terminal, by phone).
    Recorded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Allocation {
    pub invoice_id: InvoiceId,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Reserved here; the provider has not answered yet.
    Pending,
    Succeeded,
    /// The provider refused: the reservation was released.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Refund {
    pub id: RefundId,
    pub amount_minor: i64,
    pub reason: String,
    pub status: RefundStatus,
    pub provider_ref: Option<String>,
    pub failure: Option<String>,
    pub requested_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub requested_at: OffsetDateTime,
    /// Where the refunded money came from: first what was never allocated, then invoices.
    pub from_unallocated_minor: i64,
    pub from_invoices: Vec<Allocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Payment {
    pub id: PaymentId,
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub provider: String,
    /// The tenant's provider account that captured it (absent on payments recorded before
    /// accounts existed).
    #[serde(default)]
    pub provider_account: Option<ProviderAccount>,
    pub provider_ref: String,
    pub method: String,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub amount_minor: i64,
    pub currency: Currency,
    pub status: PaymentStatus,
    /// Refunded or reserved for a refund in flight.
    pub refunded_minor: i64,
    pub allocations: Vec<Allocation>,
    /// Captured, not refunded, and on no invoice (an overpayment, or an unknown invoice).
    pub unallocated_minor: i64,
    pub refunds: Vec<Refund>,
    pub source: PaymentSource,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub received_at: OffsetDateTime,
    pub recorded_by: String,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    pub amount_minor: i64,
    pub reason: String,
    /// From the prepare call: absent, the call only prepares (202 with a summary).
    #[serde(default)]
    pub confirmation_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordPayment {
    /// The provider's reference of a payment it captured.
    pub provider_ref: String,
    /// Invoices of one customer to allocate to; the rest stays unallocated.
    pub allocations: Vec<Allocation>,
    /// From the prepare call: absent, the call only prepares (202 with a summary).
    #[serde(default)]
    pub confirmation_id: Option<String>,
}

/// What `POST /invoices/{id}/checkout` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CheckoutStarted {
    pub invoice_id: InvoiceId,
    pub amount_minor: i64,
    pub currency: Currency,
    pub checkout: Checkout,
}

/// What the webhook answers the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct EventReceipt {
    pub received: bool,
    /// Already processed (a redelivery): nothing changed.
    pub duplicate: bool,
    pub payment_id: Option<PaymentId>,
}

fn reason_of(raw: &str) -> Result<String, ApiError> {
    let reason = raw.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(ApiError::invalid_field(
            "reason",
            "is required, at most 1000 characters",
        ));
    }
    Ok(reason.to_owned())
}

impl Payment {
    /// A captured payment with its allocations (already checked against the invoices).
    #[allow(clippy::too_many_arguments)]
    pub fn received(
        from: &ProviderPayment,
        provider: &str,
        tenant: &TenantId,
        customer: CustomerId,
        allocations: Vec<Allocation>,
        source: PaymentSource,
        by: &str,
        now: OffsetDateTime,
        ids: &dyn IdSource,
    ) -> Result<Payment, ApiError> {
        if from.status != ProviderPaymentStatus::Succeeded {
            return Err(ApiError::Conflict(
                "the provider has not captured this payment".into(),
            ));
        }
        let allocated: i64 = allocations.iter().map(|a| a.amount_minor).sum();
        if allocations.iter().any(|a| a.amount_minor <= 0) || allocated > from.amount_minor {
            return Err(ApiError::invalid_field(
                "allocations",
                "each must be positive and together at most the payment's amount",
            ));
        }
        Ok(Payment {
            id: PaymentId::new(ids.ulid()),
            tenant_id: tenant.clone(),
            customer_id: customer,
            provider: provider.into(),
            provider_account: from.account.clone(),
            provider_ref: from.id.clone(),
            method: from.method.clone(),
            brand: from.brand.clone(),
            last4: from.last4.clone(),
            amount_minor: from.amount_minor,
            currency: from.currency.clone(),
            status: PaymentStatus::Captured,
            refunded_minor: 0,
            allocations,
            unallocated_minor: from.amount_minor - allocated,
            refunds: Vec::new(),
            source,
            received_at: now,
            recorded_by: by.into(),
            version: 1,
        })
    }

    pub fn refundable_minor(&self) -> i64 {
        self.amount_minor - self.refunded_minor
    }

    fn with_status(mut self) -> Payment {
        self.status = match self.refunded_minor {
            0 => PaymentStatus::Captured,
            r if r >= self.amount_minor => PaymentStatus::Refunded,
            _ => PaymentStatus::PartiallyRefunded,
        };
        self
    }

    /// Reserve a refund: taken from unallocated money first, then from the invoices (latest
    /// allocation first). Returns the payment and what each invoice gives back.
    pub fn reserve_refund(
        &self,
        input: &NewRefund,
        id: RefundId,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<(Payment, Vec<Allocation>), ApiError> {
        let reason = reason_of(&input.reason)?;
        let amount = input.amount_minor;
        if amount <= 0 {
            return Err(ApiError::invalid_field("amount_minor", "must be positive"));
        }
        if amount > self.refundable_minor() {
            return Err(ApiError::Conflict(format!(
                "at most {} minor units of this payment can still be refunded",
                self.refundable_minor()
            )));
        }
        let mut next = self.clone();
        next.version += 1;
        let from_unallocated = amount.min(next.unallocated_minor);
        next.unallocated_minor -= from_unallocated;
        let mut rest = amount - from_unallocated;
        let mut taken = Vec::new();
        for allocation in next.allocations.iter_mut().rev() {
            if rest == 0 {
                break;
            }
            let take = rest.min(allocation.amount_minor);
            if take > 0 {
                allocation.amount_minor -= take;
                rest -= take;
                taken.push(Allocation {
                    invoice_id: allocation.invoice_id,
                    amount_minor: take,
                });
            }
        }
        next.allocations.retain(|a| a.amount_minor > 0);
        next.refunded_minor += amount;
        next.refunds.push(Refund {
            id,
            amount_minor: amount,
            reason,
            status: RefundStatus::Pending,
            provider_ref: None,
            failure: None,
            requested_by: by.into(),
            requested_at: now,
            from_unallocated_minor: from_unallocated,
            from_invoices: taken.clone(),
        });
        Ok((next.with_status(), taken))
    }

    /// The provider's answer to a reserved refund. On failure the reservation is released and
    /// the money goes back where it came from (the returned allocations re-apply to invoices).
    pub fn settle_refund(
        &self,
        id: RefundId,
        outcome: Result<String, String>,
    ) -> Result<(Payment, Vec<Allocation>), ApiError> {
        let mut next = self.clone();
        next.version += 1;
        let refund = next
            .refunds
            .iter_mut()
            .find(|r| r.id == id && r.status == RefundStatus::Pending)
            .ok_or_else(|| ApiError::Conflict("the refund is not pending".into()))?;
        match outcome {
            Ok(provider_ref) => {
                refund.status = RefundStatus::Succeeded;
                refund.provider_ref = Some(provider_ref);
                Ok((next, Vec::new()))
            }
            Err(failure) => {
                refund.status = RefundStatus::Failed;
                refund.failure = Some(failure);
                let amount = refund.amount_minor;
                let unallocated = refund.from_unallocated_minor;
                let restore = refund.from_invoices.clone();
                next.refunded_minor -= amount;
                next.unallocated_minor += unallocated;
                for back in &restore {
                    match next
                        .allocations
                        .iter_mut()
                        .find(|a| a.invoice_id == back.invoice_id)
                    {
                        Some(a) => a.amount_minor += back.amount_minor,
                        None => next.allocations.push(*back),
                    }
                }
                Ok((next.with_status(), restore))
            }
        }
    }

    pub fn to_item(&self) -> Item {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Item::new(),
        }
    }

    pub fn from_item(item: &Item) -> Option<Payment> {
        crate::store::record_of(item)
    }

    pub fn write(&self, previous: Option<u64>) -> Write {
        Write::Put {
            key: keys::payment(&self.tenant_id, &self.id),
            index: Some(keys::customer_index(
                &self.tenant_id,
                &self.customer_id,
                keys::CustomerRecord::Payment,
                &self.id.to_string(),
            )),
            item: self.to_item(),
            condition: previous
                .map(Condition::VersionIs)
                .unwrap_or(Condition::NotExists),
        }
    }

    /// The marker that makes this provider reference recordable once.
    pub fn reference_write(&self) -> Write {
        let mut item = Item::new();
        item.insert("payment_id".into(), serde_json::json!(self.id));
        Write::Put {
            key: keys::payment_reference(&self.tenant_id, &self.provider, &self.provider_ref),
            index: None,
            item,
            condition: Condition::NotExists,
        }
    }
}

/// The marker that makes a provider event take effect once.
pub fn event_write(tenant: &TenantId, provider: &str, event_id: &str) -> Write {
    let mut item = Item::new();
    item.insert("event_id".into(), serde_json::json!(event_id));
    Write::Put {
        key: keys::provider_event(tenant, provider, event_id),
        index: None,
        item,
        condition: Condition::NotExists,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SystemIds;

    fn captured(amount: i64, allocations: Vec<Allocation>) -> Payment {
        let from = ProviderPayment {
            id: "pay_123".into(),
            amount_minor: amount,
            currency: Currency::default(),
            status: ProviderPaymentStatus::Succeeded,
            method: "card".into(),
            brand: Some("visa".into()),
            last4: Some("4242".into()),
            account: None,
            metadata: BTreeMap::new(),
        };
        Payment::received(
            &from,
            "sandbox",
            &TenantId::parse("acme").expect("t"),
            CustomerId::new(ulid::Ulid::new()),
            allocations,
            PaymentSource::Checkout,
            "provider",
            OffsetDateTime::now_utc(),
            &SystemIds,
        )
        .expect("payment")
    }

    fn refund(amount: i64) -> NewRefund {
        NewRefund {
            amount_minor: amount,
            reason: "customer asked".into(),
            confirmation_id: None,
        }
    }

    fn inv() -> InvoiceId {
        InvoiceId::new(ulid::Ulid::new())
    }

    #[test]
    fn only_display_safe_metadata_passes() {
        let ok = ProviderPayment {
            id: "pay_1".into(),
            amount_minor: 100,
            currency: Currency::default(),
            status: ProviderPaymentStatus::Succeeded,
            method: "card".into(),
            brand: Some("visa".into()),
            last4: Some("4242".into()),
            account: None,
            metadata: BTreeMap::new(),
        };
        assert!(ok.clone().checked().is_ok());
        let pan = ProviderPayment {
            last4: Some("4242424242424242".into()),
            ..ok.clone()
        };
        assert!(pan.checked().is_err());
        let odd = ProviderPayment {
            id: "pay 1; drop".into(),
            ..ok.clone()
        };
        assert!(odd.checked().is_err());
        let nothing = ProviderPayment {
            amount_minor: 0,
            ..ok
        };
        assert!(nothing.checked().is_err());
    }

    #[test]
    fn allocations_never_exceed_the_payment() {
        let from = captured(1000, vec![]);
        assert_eq!(from.unallocated_minor, 1000);
        let a = captured(
            1000,
            vec![Allocation {
                invoice_id: inv(),
                amount_minor: 600,
            }],
        );
        assert_eq!(a.unallocated_minor, 400);
        let p = ProviderPayment {
            id: "pay_1".into(),
            amount_minor: 100,
            currency: Currency::default(),
            status: ProviderPaymentStatus::Succeeded,
            method: "card".into(),
            brand: None,
            last4: None,
            account: None,
            metadata: BTreeMap::new(),
        };
        let too_much = Payment::received(
            &p,
            "sandbox",
            &TenantId::parse("acme").expect("t"),
            CustomerId::new(ulid::Ulid::new()),
            vec![Allocation {
                invoice_id: inv(),
                amount_minor: 101,
            }],
            PaymentSource::Recorded,
            "u",
            OffsetDateTime::now_utc(),
            &SystemIds,
        );
        assert!(too_much.is_err());
    }

    #[test]
    fn refunds_take_unallocated_money_first_and_never_exceed_the_capture() {
        let (i1, i2) = (inv(), inv());
        let p = captured(
            1000,
            vec![
                Allocation {
                    invoice_id: i1,
                    amount_minor: 500,
                },
                Allocation {
                    invoice_id: i2,
                    amount_minor: 300,
                },
            ],
        );
        let now = OffsetDateTime::now_utc();
        let (p, taken) = p
            .reserve_refund(&refund(450), RefundId::new(ulid::Ulid::new()), "u", now)
            .expect("first");
        assert_eq!(p.unallocated_minor, 0);
        assert_eq!(
            taken,
            vec![Allocation {
                invoice_id: i2,
                amount_minor: 250
            }]
        );
        assert_eq!(p.status, PaymentStatus::PartiallyRefunded);
        assert_eq!(p.refundable_minor(), 550);
        assert!(matches!(
            p.reserve_refund(&refund(551), RefundId::new(ulid::Ulid::new()), "u", now),
            Err(ApiError::Conflict(_))
        ));
        let (p, taken) = p
            .reserve_refund(&refund(550), RefundId::new(ulid::Ulid::new()), "u", now)
            .expect("rest");
        assert_eq!(taken.iter().map(|a| a.amount_minor).sum::<i64>(), 550);
        assert_eq!(p.status, PaymentStatus::Refunded);
        assert!(p.allocations.is_empty());
        assert!(p
            .reserve_refund(&refund(1), RefundId::new(ulid::Ulid::new()), "u", now)
            .is_err());
    }

    #[test]
    fn a_failed_refund_releases_its_reservation() {
        let i1 = inv();
        let p = captured(
            1000,
            vec![Allocation {
                invoice_id: i1,
                amount_minor: 800,
            }],
        );
        let id = RefundId::new(ulid::Ulid::new());
        let (reserved, _) = p
            .reserve_refund(&refund(900), id, "u", OffsetDateTime::now_utc())
            .expect("reserve");
        let (released, restore) = reserved
            .settle_refund(id, Err("card closed".into()))
            .expect("settle");
        assert_eq!(released.refunded_minor, 0);
        assert_eq!(released.unallocated_minor, 200);
        assert_eq!(released.allocations, p.allocations);
        assert_eq!(restore.iter().map(|a| a.amount_minor).sum::<i64>(), 700);
        assert_eq!(released.status, PaymentStatus::Captured);
        assert!(
            released.settle_refund(id, Ok("re_1".into())).is_err(),
            "settled once"
        );
        let (done, restore) = reserved.settle_refund(id, Ok("re_1".into())).expect("ok");
        assert!(restore.is_empty());
        assert_eq!(done.refunded_minor, 900);
    }

    #[test]
    fn refunds_need_a_reason_and_a_positive_amount() {
        let p = captured(1000, vec![]);
        let now = OffsetDateTime::now_utc();
        let id = RefundId::new(ulid::Ulid::new());
        assert!(p.reserve_refund(&refund(0), id, "u", now).is_err());
        assert!(p.reserve_refund(&refund(-5), id, "u", now).is_err());
        let blank = NewRefund {
            reason: "  ".into(),
            ..refund(10)
        };
        assert!(p.reserve_refund(&blank, id, "u", now).is_err());
    }

    fn account(raw: &str) -> ProviderAccount {
        ProviderAccount::parse(raw).expect("account")
    }

    fn captured_on(account: Option<ProviderAccount>, tenant: Option<&str>) -> ProviderPayment {
        ProviderPayment {
            id: "pay_77".into(),
            amount_minor: 2500,
            currency: Currency::default(),
            status: ProviderPaymentStatus::Succeeded,
            method: "card".into(),
            brand: Some("visa".into()),
            last4: Some("4242".into()),
            account,
            metadata: tenant
                .map(|t| BTreeMap::from([(META_TENANT.to_owned(), t.to_owned())]))
                .unwrap_or_default(),
        }
    }

    #[test]
    fn provider_accounts_are_plain_tokens() {
        assert!(ProviderAccount::parse("acct_01J9Z").is_ok());
        for bad in ["", "acct 1", "acct#1", "acct/1", &"a".repeat(65)] {
            assert!(ProviderAccount::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_value::<ProviderAccount>(serde_json::json!("a*b")).is_err());
    }

    #[test]
    fn a_payment_belongs_only_to_the_tenant_whose_account_captured_it() {
        let acme = TenantId::parse("acme").expect("t");
        let (mine, theirs) = (account("acct_acme"), account("acct_other"));
        assert!(captured_on(Some(mine.clone()), None).belongs_to(&acme, &mine));
        assert!(captured_on(Some(mine.clone()), Some("acme")).belongs_to(&acme, &mine));
        assert!(!captured_on(Some(theirs.clone()), None).belongs_to(&acme, &mine));
        assert!(!captured_on(Some(theirs), Some("acme")).belongs_to(&acme, &mine));
        assert!(!captured_on(None, Some("acme")).belongs_to(&acme, &mine));
        assert!(
            !captured_on(Some(mine.clone()), Some("other-shop")).belongs_to(&acme, &mine),
            "metadata naming another tenant"
        );
    }

    #[test]
    fn checked_keeps_only_the_metadata_a_checkout_attaches() {
        let mut p = captured_on(Some(account("acct_acme")), Some("acme"));
        p.metadata.insert("note".into(), "anything".into());
        let p = p.checked().expect("checked");
        assert_eq!(
            p.metadata.keys().map(String::as_str).collect::<Vec<_>>(),
            vec![META_TENANT]
        );
        let mut long = captured_on(None, None);
        long.metadata.insert(META_INVOICE.into(), "x".repeat(65));
        assert!(long.checked().is_err());
    }

    #[test]
    fn an_event_records_only_in_the_tenant_whose_account_it_happened_on() {
        use super::store::{Delivery, Receipt};
        let acme = TenantId::parse("acme").expect("t");
        let (mine, theirs) = (account("acct_acme"), account("acct_other"));
        let customer = CustomerId::new(ulid::Ulid::new()).to_string();
        let meta = |tenant: &str| {
            BTreeMap::from([
                (META_TENANT.to_owned(), tenant.to_owned()),
                (META_CUSTOMER.to_owned(), customer.clone()),
            ])
        };
        let receipt = |event_account: &ProviderAccount,
                       payment: &ProviderPayment,
                       metadata: &BTreeMap<String, String>,
                       stored: Option<&ProviderAccount>| {
            let delivery = Delivery {
                provider: "sandbox",
                event_id: "evt_1",
                account: event_account,
                payment,
                metadata,
            };
            Receipt::of(
                &delivery,
                stored,
                None,
                &acme,
                "provider",
                OffsetDateTime::now_utc(),
                &SystemIds,
            )
        };
        let ours = captured_on(Some(mine.clone()), Some("acme"));
        let recorded = receipt(&mine, &ours, &meta("acme"), Some(&mine)).expect("recorded");
        assert_eq!(recorded.payment.provider_account, Some(mine.clone()));
        // Another account's event naming this tenant (its metadata forged or mistaken).
        let other = captured_on(Some(theirs.clone()), Some("acme"));
        assert!(receipt(&theirs, &other, &meta("acme"), Some(&mine)).is_err());
        // The tenant has no account: nothing can be on it.
        assert!(receipt(&mine, &ours, &meta("acme"), None).is_err());
        // The event's account is the tenant's, but the payment in it is another account's.
        assert!(receipt(&mine, &other, &meta("acme"), Some(&mine)).is_err());
        // The metadata names another tenant than the one recording it.
        assert!(receipt(&mine, &ours, &meta("other-shop"), Some(&mine)).is_err());
    }

    #[tokio::test]
    async fn recording_another_accounts_payment_writes_nothing() {
        use crate::caller::Role;
        use crate::memory::TestRig;
        let rig = TestRig::new("acme", Role::Accounting);
        let theirs = captured_on(Some(account("acct_other")), Some("other-shop"));
        let allocations = [Allocation {
            invoice_id: inv(),
            amount_minor: 1,
        }];
        for from in [
            theirs.clone(),
            captured_on(Some(account("acct_acme")), Some("other-shop")),
        ] {
            let got = super::store::record(
                &rig.ctx(),
                "sandbox",
                &account("acct_acme"),
                &from,
                &allocations,
            )
            .await;
            assert!(matches!(got, Err(ApiError::BadRequest { .. })), "{got:?}");
        }
        let calls = rig.store.calls.lock().expect("calls").clone();
        assert!(calls.iter().all(|c| *c != "commit"), "{calls:?}");
        assert!(rig.audit_actions().is_empty());
    }

    #[tokio::test]
    async fn a_refund_confirmation_reserves_once_under_its_version() {
        use crate::caller::Role;
        use crate::memory::TestRig;
        use crate::store::TenantStore;
        let rig = TestRig::new("acme", Role::Accounting);
        let p = captured(1000, vec![]);
        rig.store.put_marker(p.write(None)).await.expect("seeded");
        let cx = rig.ctx();
        let confirmed = p.version;
        let first = super::store::reserve_refund(
            &cx,
            &p.id,
            confirmed,
            &refund(100),
            RefundId::new(ulid::Ulid::new()),
        )
        .await
        .expect("the first use reserves");
        assert_eq!(first.refunded_minor, 100);
        let again = super::store::reserve_refund(
            &cx,
            &p.id,
            confirmed,
            &refund(100),
            RefundId::new(ulid::Ulid::new()),
        )
        .await;
        assert!(matches!(again, Err(ApiError::Conflict(_))), "{again:?}");
        let stored: Payment = cx
            .get(&keys::payment(&p.tenant_id, &p.id))
            .await
            .expect("read")
            .expect("payment");
        assert_eq!((stored.refunded_minor, stored.refunds.len()), (100, 1));
    }
}

/// Loading and saving payments for the payment functions: every change commits the payment,
/// the invoices it touches and the audit record in one transaction.
pub mod store {
    use super::{
        event_write, no_account, Allocation, CheckoutRequest, CheckoutStarted, EventReceipt,
        NewRefund, Payment, PaymentProvider, PaymentSource, ProviderAccount, ProviderError,
        ProviderPayment, META_CUSTOMER, META_INVOICE, META_TENANT,
    };
    use crate::actions::Action;
    use crate::authz::Resource;
    use crate::ids::{CustomerId, IdSource, InvoiceId, PaymentId, RefundId, TenantId};
    use crate::invoice::{Invoice, InvoiceStatus};
    use crate::keys;
    use crate::problem::ApiError;
    use crate::request::{store_error, Ctx};
    use crate::store::{StoreError, TenantStore, Write};
    use crate::user::Tenant;
    use std::collections::BTreeMap;
    use time::OffsetDateTime;

    /// Concurrent changes to the same payment or invoice retry this often before a 409.
    const ATTEMPTS: usize = 8;

    pub fn resource(p: &Payment) -> Resource {
        Resource::Record {
            tenant: p.tenant_id.clone(),
            kind: "Payment",
            id: p.id.to_string(),
        }
    }

    pub async fn load<S: TenantStore>(
        cx: &Ctx<'_, S>,
        raw_id: &str,
        action: Action,
    ) -> Result<Payment, ApiError> {
        let id = PaymentId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
        let payment: Payment = cx
            .get(&keys::payment(&cx.caller.tenant, &id))
            .await?
            .ok_or(ApiError::NotFound)?;
        cx.authorize(action, &resource(&payment)).await?;
        Ok(payment)
    }

    /// The caller's tenant's account at the provider, which every provider call for it is
    /// made on; a tenant without one gets a plain 409 (`no_account`).
    pub async fn account<S: TenantStore>(cx: &Ctx<'_, S>) -> Result<ProviderAccount, ApiError> {
        let shop: Option<Tenant> = cx.get(&keys::tenant_profile(&cx.caller.tenant)).await?;
        shop.and_then(|s| s.payment_account).ok_or_else(no_account)
    }

    async fn invoice<S: TenantStore>(
        cx: &Ctx<'_, S>,
        id: &InvoiceId,
    ) -> Result<Option<Invoice>, ApiError> {
        cx.get(&keys::invoice(&cx.caller.tenant, id)).await
    }

    /// The writes that move `amount` onto (positive) or off (negative) each invoice, with
    /// their tasks; the invoices are read fresh.
    async fn invoice_writes<S: TenantStore>(
        cx: &Ctx<'_, S>,
        moves: &[Allocation],
        sign: i64,
    ) -> Result<Vec<Write>, ApiError> {
        let mut writes = Vec::new();
        for m in moves {
            let before = invoice(cx, &m.invoice_id).await?.ok_or_else(|| {
                ApiError::invalid_field(
                    "allocations",
                    format!("invoice {} not found", m.invoice_id),
                )
            })?;
            let after = if sign > 0 {
                before.apply_payment(m.amount_minor)?
            } else {
                before.reverse_payment(m.amount_minor)?
            };
            writes.push(after.write(Some(before.version)));
            writes.extend(crate::task::for_invoice(Some(&before), &after));
        }
        Ok(writes)
    }

    /// A captured payment reported by the provider's verified webhook: recorded once per
    /// event and once per provider reference, allocated to the checkout's invoice up to its
    /// balance (the rest stays unallocated, as does all of it if the invoice cannot take it).
    pub async fn receive<S: TenantStore>(
        cx: &Ctx<'_, S>,
        delivery: &Delivery<'_>,
    ) -> Result<EventReceipt, ApiError> {
        let Delivery {
            provider,
            event_id,
            metadata,
            ..
        } = *delivery;
        let t = &cx.caller.tenant;
        let duplicate = EventReceipt {
            received: true,
            duplicate: true,
            payment_id: None,
        };
        let invoice_id = metadata
            .get(META_INVOICE)
            .and_then(|raw| InvoiceId::parse(raw).ok());
        for _ in 0..ATTEMPTS {
            // Independent reads, one round trip: has this event been recorded, the invoice, and
            // the tenant (whose provider account the event must be on).
            let (seen, invoice, shop) = futures_util::future::join3(
                cx.store.get(&keys::provider_event(t, provider, event_id)),
                async {
                    match &invoice_id {
                        Some(id) => self::invoice(cx, id).await,
                        None => Ok(None),
                    }
                },
                cx.get::<Tenant>(&keys::tenant_profile(t)),
            )
            .await;
            if seen.map_err(store_error)?.is_some() {
                return Ok(duplicate);
            }
            let shop = shop?;
            let receipt = Receipt::of(
                delivery,
                shop.as_ref().and_then(|s| s.payment_account.as_ref()),
                invoice?.as_ref(),
                t,
                cx.caller.user.as_str(),
                cx.now(),
                cx.ids,
            )?;
            let after = serde_json::to_value(&receipt.payment).map_err(|_| ApiError::Internal)?;
            let resource = format!("payment/{}", receipt.payment.id);
            match cx
                .commit(
                    Action::ReceivePayment,
                    &resource,
                    receipt.writes,
                    None,
                    Some(&after),
                )
                .await
            {
                Ok(()) => {
                    return Ok(EventReceipt {
                        received: true,
                        duplicate: false,
                        payment_id: Some(receipt.payment.id),
                    })
                }
                // Another delivery of this event, or this payment recorded another way.
                Err(StoreError::ConditionFailed { index })
                    if index == 0 || index == receipt.reference_index =>
                {
                    return Ok(duplicate)
                }
                // The invoice changed meanwhile: read it again.
                Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Contention) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ApiError::Conflict(
            "the invoice kept changing; the provider will deliver again".into(),
        ))
    }

    /// A captured payment as a verified provider event delivers it.
    #[derive(Clone, Copy)]
    pub struct Delivery<'a> {
        pub provider: &'a str,
        pub event_id: &'a str,
        /// The provider account the event happened on.
        pub account: &'a ProviderAccount,
        pub payment: &'a ProviderPayment,
        pub metadata: &'a BTreeMap<String, String>,
    }

    /// What recording a captured payment from a provider event writes, decided by the tenant's
    /// provider account and the invoice read for it. An event is recorded in a tenant only
    /// when it happened on that tenant's account (and names it): the event's marker (first),
    /// the allocation to the invoice up to its balance with the invoice's tasks, the payment,
    /// its reference marker and its ledger entry.
    /// Pure given what was read (the webhook commits it; the benchmark builds the same).
    pub struct Receipt {
        pub payment: Payment,
        pub writes: Vec<Write>,
        /// The position of the reference marker (a failed condition there is a duplicate).
        pub reference_index: usize,
    }

    impl Receipt {
        /// `by` is the principal recording it (the provider's), at `now`; `tenant_account` is
        /// the account stored on tenant `t`.
        pub fn of(
            delivery: &Delivery<'_>,
            tenant_account: Option<&ProviderAccount>,
            invoice: Option<&Invoice>,
            t: &TenantId,
            by: &str,
            now: OffsetDateTime,
            ids: &dyn IdSource,
        ) -> Result<Receipt, ApiError> {
            let Delivery {
                provider,
                event_id,
                account,
                payment: from,
                metadata,
            } = *delivery;
            let ours = tenant_account == Some(account)
                && metadata.get(META_TENANT).map(String::as_str) == Some(t.as_str())
                && from.account.as_ref().is_none_or(|a| a == account);
            if !ours {
                return Err(ApiError::bad_request(
                    "the event did not happen on this tenant's provider account",
                ));
            }
            let customer = invoice
                .map(|i| i.customer_id)
                .or_else(|| {
                    metadata
                        .get(META_CUSTOMER)
                        .and_then(|raw| CustomerId::parse(raw).ok())
                })
                .ok_or_else(|| {
                    ApiError::bad_request("the event names no invoice or customer of this tenant")
                })?;
            let allocatable = invoice
                .filter(|i| i.status == InvoiceStatus::Issued && i.currency == from.currency)
                .map(|i| (i, from.amount_minor.min(i.balance())))
                .filter(|(_, amount)| *amount > 0);
            let mut writes = vec![event_write(t, provider, event_id)];
            let mut allocations = Vec::new();
            if let Some((before, amount)) = allocatable {
                let after = before.apply_payment(amount)?;
                writes.push(after.write(Some(before.version)));
                writes.extend(crate::task::for_invoice(Some(before), &after));
                allocations.push(Allocation {
                    invoice_id: before.id,
                    amount_minor: amount,
                });
            }
            let payment = Payment::received(
                from,
                provider,
                t,
                customer,
                allocations,
                PaymentSource::Checkout,
                by,
                now,
                ids,
            )?;
            let reference_index = writes.len() + 1;
            writes.push(payment.write(None));
            writes.push(payment.reference_write());
            writes.push(crate::ledger::entries::payment(&payment).write(t));
            Ok(Receipt {
                payment,
                writes,
                reference_index,
            })
        }
    }

    /// Staff record a payment the provider captured on the tenant's `account` and allocate it
    /// to invoices of one customer (the caller has stepped up and confirmed). A payment of
    /// another account, or whose metadata names another tenant, is "no such payment".
    pub async fn record<S: TenantStore>(
        cx: &Ctx<'_, S>,
        provider: &str,
        account: &ProviderAccount,
        from: &ProviderPayment,
        allocations: &[Allocation],
    ) -> Result<Payment, ApiError> {
        if !from.belongs_to(&cx.caller.tenant, account) {
            return Err(not_ours());
        }
        if allocations.is_empty() || allocations.len() > 20 {
            return Err(ApiError::invalid_field(
                "allocations",
                "needs 1 to 20 invoices",
            ));
        }
        for _ in 0..ATTEMPTS {
            let mut customer = None;
            for a in allocations {
                let i = invoice(cx, &a.invoice_id).await?.ok_or_else(|| {
                    ApiError::invalid_field(
                        "allocations",
                        format!("invoice {} not found", a.invoice_id),
                    )
                })?;
                if i.currency != from.currency {
                    return Err(ApiError::invalid_field(
                        "allocations",
                        "every invoice must be in the payment's currency",
                    ));
                }
                if customer.is_some_and(|c| c != i.customer_id) {
                    return Err(ApiError::invalid_field(
                        "allocations",
                        "every invoice must belong to the same customer",
                    ));
                }
                customer = Some(i.customer_id);
            }
            let customer = customer.ok_or(ApiError::Internal)?;
            let payment = Payment::received(
                from,
                provider,
                &cx.caller.tenant,
                customer,
                allocations.to_vec(),
                PaymentSource::Recorded,
                cx.caller.user.as_str(),
                cx.now(),
                cx.ids,
            )?;
            let mut writes = vec![
                payment.reference_write(),
                payment.write(None),
                crate::ledger::entries::payment(&payment).write(&cx.caller.tenant),
            ];
            writes.extend(invoice_writes(cx, allocations, 1).await?);
            let after = serde_json::to_value(&payment).map_err(|_| ApiError::Internal)?;
            let resource = format!("payment/{}", payment.id);
            match cx
                .commit(Action::RecordPayment, &resource, writes, None, Some(&after))
                .await
            {
                Ok(()) => return Ok(payment),
                Err(StoreError::ConditionFailed { index: 0 }) => {
                    return Err(ApiError::Conflict(
                        "this provider payment is already recorded".into(),
                    ))
                }
                Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Contention) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ApiError::Conflict(
            "the invoices kept changing; retry".into(),
        ))
    }

    /// What recording answers for a payment that is not the caller's tenant's: the same as for
    /// a reference the provider does not know, so it tells nothing about other shops.
    pub fn not_ours() -> ApiError {
        ApiError::invalid_field("provider_ref", "the provider has no such payment")
    }

    /// Reserve a refund (payment, invoices, audit in one transaction under the payment's
    /// version): of concurrent refunds that together exceed the capture, the later ones see
    /// the reservation and are refused. `confirmed` is the version the confirmation was
    /// prepared for: once the payment has moved on (this refund reserved, or any other
    /// change), the confirmation is spent and the refund is refused.
    pub async fn reserve_refund<S: TenantStore>(
        cx: &Ctx<'_, S>,
        id: &PaymentId,
        confirmed: u64,
        input: &NewRefund,
        refund_id: RefundId,
    ) -> Result<Payment, ApiError> {
        for _ in 0..ATTEMPTS {
            let before: Payment = cx
                .get(&keys::payment(&cx.caller.tenant, id))
                .await?
                .ok_or(ApiError::NotFound)?;
            if before.version != confirmed {
                return Err(crate::confirm::stale());
            }
            let (after, taken) =
                before.reserve_refund(input, refund_id, cx.caller.user.as_str(), cx.now())?;
            let mut writes = vec![after.write(Some(before.version))];
            writes.extend(invoice_writes(cx, &taken, -1).await?);
            let resource = format!("payment/{}", after.id);
            match commit(cx, &resource, writes, &before, &after).await {
                Ok(()) => return Ok(after),
                Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Contention) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ApiError::Conflict(
            "the payment kept changing; retry".into(),
        ))
    }

    /// Record the provider's answer to a reserved refund; a refusal gives the money back to
    /// where the reservation took it from.
    pub async fn settle_refund<S: TenantStore>(
        cx: &Ctx<'_, S>,
        id: &PaymentId,
        refund_id: RefundId,
        outcome: Result<String, String>,
    ) -> Result<Payment, ApiError> {
        let cx = &cx.after_first_commit();
        for _ in 0..ATTEMPTS {
            let before: Payment = cx
                .get(&keys::payment(&cx.caller.tenant, id))
                .await?
                .ok_or(ApiError::NotFound)?;
            let (after, restore) = before.settle_refund(refund_id, outcome.clone())?;
            let mut writes = vec![after.write(Some(before.version))];
            let settled = after
                .refunds
                .iter()
                .find(|r| r.id == refund_id && r.status == super::RefundStatus::Succeeded);
            if let Some(refund) = settled {
                writes.push(
                    crate::ledger::entries::refund(&after, refund, cx.now())
                        .write(&cx.caller.tenant),
                );
            }
            writes.extend(invoice_writes(cx, &restore, 1).await?);
            let resource = format!("payment/{}", after.id);
            match commit(cx, &resource, writes, &before, &after).await {
                Ok(()) => return Ok(after),
                Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Contention) => {}
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ApiError::Conflict(
            "the payment kept changing; the refund stays pending".into(),
        ))
    }

    /// Open the provider's hosted checkout for what an issued invoice still owes, recorded
    /// (as `action`) before the link is handed out.
    pub async fn start_checkout<S: TenantStore, P: PaymentProvider>(
        cx: &Ctx<'_, S>,
        provider: &P,
        invoice: &Invoice,
        return_url: &str,
        action: Action,
    ) -> Result<CheckoutStarted, ApiError> {
        let balance = invoice.balance();
        if invoice.status != InvoiceStatus::Issued || balance <= 0 {
            return Err(ApiError::Conflict(
                "only an issued invoice with a balance can be paid".into(),
            ));
        }
        let metadata = BTreeMap::from([
            (META_TENANT.to_owned(), invoice.tenant_id.to_string()),
            (META_INVOICE.to_owned(), invoice.id.to_string()),
            (META_CUSTOMER.to_owned(), invoice.customer_id.to_string()),
        ]);
        let request = CheckoutRequest {
            amount_minor: balance,
            currency: invoice.currency.clone(),
            description: format!("Invoice #{}", invoice.number.unwrap_or_default()),
            metadata,
            success_url: return_url.to_owned(),
            cancel_url: return_url.to_owned(),
        };
        let account = account(cx).await?;
        let checkout = provider
            .create_checkout(&account, &request)
            .await
            .map_err(|e| match e {
                ProviderError::Refused(m) => {
                    ApiError::Conflict(format!("the provider refused: {m}"))
                }
                ProviderError::Unavailable(m) => ApiError::Unavailable(m),
            })?;
        let started = CheckoutStarted {
            invoice_id: invoice.id,
            amount_minor: balance,
            currency: invoice.currency.clone(),
            checkout,
        };
        // Recorded before the link is handed out: no record, no link.
        let after = serde_json::to_value(&started).map_err(|_| ApiError::Internal)?;
        cx.commit(
            action,
            &format!("invoice/{}", invoice.id),
            Vec::new(),
            None,
            Some(&after),
        )
        .await
        .map_err(store_error)?;
        Ok(started)
    }

    async fn commit<S: TenantStore>(
        cx: &Ctx<'_, S>,
        resource: &str,
        writes: Vec<Write>,
        before: &Payment,
        after: &Payment,
    ) -> Result<(), StoreError> {
        let b = serde_json::to_value(before).ok();
        let a = serde_json::to_value(after).ok();
        cx.commit(
            Action::RefundPayment,
            resource,
            writes,
            b.as_ref(),
            a.as_ref(),
        )
        .await
    }
}
