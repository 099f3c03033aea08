//! `POST /webhooks/payments` (public: the provider calls it): a provider event, accepted only
//! with a current signature over the raw body by one of the configured secrets, processed
//! once per event id and once per payment reference. A captured payment is recorded with its
//! display-safe metadata and allocated to the invoice its checkout was for, in one audited
//! transaction inside that invoice's tenant, and only when the event happened on that
//! tenant's own provider account (an event of account X records only in X's tenant).
use fieldvault_aws::app::{respond, Reply};
use fieldvault_aws::App;
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::ids::TenantId;
use fieldvault_core::payment::{
    store::{receive, Delivery},
    EventReceipt, PaymentProvider, ProviderEvent, META_TENANT, PAYMENT_SUCCEEDED,
};
use fieldvault_core::problem::{find_card_number, ApiError};
use fieldvault_core::webhook::SIGNATURE_HEADER;
use lambda_http::{Body, Request, Response};

/// The Lambda handler (also served by the local gateway).
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = receive_event(app, &req).await;
    respond(&req, result)
}

async fn receive_event(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let provider = app.payments()?;
    let event = verified_event(provider, req)?;
    if event.kind != PAYMENT_SUCCEEDED {
        // Acknowledged so the provider stops redelivering; nothing to record.
        return Reply::ok(&EventReceipt {
            received: true,
            duplicate: false,
            payment_id: None,
        });
    }
    let payment = event
        .data
        .payment
        .clone()
        .ok_or_else(|| ApiError::bad_request("a payment event without a payment"))?
        .checked()
        .map_err(ApiError::bad_request)?;
    let tenant = event
        .data
        .metadata
        .get(META_TENANT)
        .and_then(|raw| TenantId::parse(raw).ok())
        .ok_or_else(|| ApiError::bad_request("the event names no tenant"))?;
    let account = event
        .account
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("the event names no provider account"))?;
    let exchange = app
        .begin_as_provider(req, tenant.clone(), provider.name())
        .await?;
    let cx = app.ctx(&exchange, None);
    cx.authorize(Action::ReceivePayment, &Resource::Tenant(tenant))
        .await?;
    let delivery = Delivery {
        provider: provider.name(),
        event_id: &event.id,
        account,
        payment: &payment,
        metadata: &event.data.metadata,
    };
    let receipt = receive(&cx, &delivery).await?;
    Reply::ok(&receipt)
}

/// The event, if the signature holds and nothing in it looks like a card number.
pub fn verified_event<P: PaymentProvider>(
    provider: &P,
    req: &Request,
) -> Result<ProviderEvent, ApiError> {
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let raw = req.body().as_ref();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let event = provider.verify_event(signature, raw, now).map_err(|e| {
        // No tenant is known before the signature holds: the refusal is logged, not audited.
        tracing::warn!(error = %e, "webhook refused");
        ApiError::bad_request(format!("webhook refused: {e}"))
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(raw).map_err(|_| ApiError::bad_request("not JSON"))?;
    if let Some(path) = find_card_number(&value, "") {
        return Err(ApiError::bad_request(format!(
            "{path} looks like a card number; card data is never accepted"
        )));
    }
    if event.id.is_empty()
        || event.id.len() > 100
        || !event
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(ApiError::bad_request("the event id is malformed"));
    }
    Ok(event)
}
