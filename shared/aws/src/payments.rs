//! The payment provider adapter: the sandbox provider's HTTP API (the local stack runs it; it
//! behaves like a hosted provider: checkout sessions, captured payments, refunds, and signed
//! webhooks). Card data stays on the provider's pages; nothing here ever sees it.
//!
//! Every shop is a connected account at the provider: calls about payments carry the tenant's
//! account in the `Sandbox-Account` header (as Stripe Connect's `Stripe-Account`), and the
//! provider answers only about that account's payments.
use std::time::Duration;

use fieldvault_core::ids::TenantId;
use fieldvault_core::payment::{
    Checkout, CheckoutRequest, PaymentProvider, ProviderAccount, ProviderError, ProviderEvent,
    ProviderPayment, ProviderRefund, META_TENANT,
};
use fieldvault_core::webhook::{self, WebhookError};
use serde::de::DeserializeOwned;

use crate::settings::PaymentSettings;

/// The header that names the connected account a call is made on.
pub const ACCOUNT_HEADER: &str = "sandbox-account";

pub struct SandboxProvider {
    settings: PaymentSettings,
    http: reqwest::Client,
}

impl SandboxProvider {
    pub fn new(settings: PaymentSettings) -> Result<SandboxProvider, String> {
        crate::install_tls_provider();
        // Inside the request deadline (`bounds::PROVIDER_TIMEOUT`, whose test holds it there).
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| format!("payment provider client: {e}"))?;
        Ok(SandboxProvider { settings, http })
    }

    pub fn settings(&self) -> &PaymentSettings {
        &self.settings
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<T>, ProviderError> {
        let response = request
            .bearer_auth(&self.settings.api_key)
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status.is_server_error() {
            return Err(ProviderError::Unavailable(format!("HTTP {status}")));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| ProviderError::Unavailable(e.without_url().to_string()))?;
        if !status.is_success() {
            let message = body
                .get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("refused")
                .chars()
                .take(200)
                .collect();
            return Err(ProviderError::Refused(message));
        }
        serde_json::from_value(body)
            .map(Some)
            .map_err(|e| ProviderError::Unavailable(format!("unexpected answer: {e}")))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.api_url)
    }
}

impl PaymentProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn create_account(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<ProviderAccount, ProviderError> {
        #[derive(serde::Deserialize)]
        struct Created {
            id: ProviderAccount,
        }
        let body = serde_json::json!({
            "name": name, "metadata": { META_TENANT: tenant.as_str() }
        });
        let created: Created = self
            .send(self.http.post(self.url("/v1/accounts")).json(&body))
            .await?
            .ok_or_else(|| ProviderError::Unavailable("no accounts endpoint".into()))?;
        Ok(created.id)
    }

    async fn create_checkout(
        &self,
        account: &ProviderAccount,
        request: &CheckoutRequest,
    ) -> Result<Checkout, ProviderError> {
        self.send(
            self.http
                .post(self.url("/v1/checkout_sessions"))
                .header(ACCOUNT_HEADER, account.as_str())
                .json(request),
        )
        .await?
        .ok_or_else(|| ProviderError::Refused("no such account at the provider".into()))
    }

    async fn payment(
        &self,
        account: &ProviderAccount,
        reference: &str,
    ) -> Result<Option<ProviderPayment>, ProviderError> {
        if !reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Ok(None);
        }
        self.send(
            self.http
                .get(self.url(&format!("/v1/payments/{reference}")))
                .header(ACCOUNT_HEADER, account.as_str()),
        )
        .await
    }

    async fn refund(
        &self,
        account: &ProviderAccount,
        reference: &str,
        amount_minor: i64,
        idempotency_key: &str,
    ) -> Result<ProviderRefund, ProviderError> {
        self.send(
            self.http
                .post(self.url("/v1/refunds"))
                .header(ACCOUNT_HEADER, account.as_str())
                .header("idempotency-key", idempotency_key)
                .json(&serde_json::json!({ "payment": reference, "amount_minor": amount_minor })),
        )
        .await?
        .ok_or_else(|| ProviderError::Refused("no such payment at the provider".into()))
    }

    fn verify_event(
        &self,
        signature: Option<&str>,
        raw_body: &[u8],
        now_unix: i64,
    ) -> Result<ProviderEvent, WebhookError> {
        webhook::verify(
            signature,
            raw_body,
            &self.settings.webhook_secrets,
            now_unix,
        )?;
        serde_json::from_slice(raw_body).map_err(|_| WebhookError::Malformed)
    }
}
