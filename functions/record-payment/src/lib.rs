//! `POST /payments`: record a payment the provider captured (taken on a terminal or by phone)
//! by its provider reference, allocated to invoices of one customer. The amount, method,
//! brand and last four come from the provider, never from the request. Needs an MFA step-up
//! for billing corrections and two phases; a provider reference is recorded once, however it
//! arrives (this, or the checkout webhook). The payment is looked up on the tenant's own
//! provider account: another shop's payment is "no such payment", as is one whose metadata
//! names another tenant.
use fieldvault_aws::app::{json_body, Reply};
use fieldvault_aws::App;
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::confirm;
use fieldvault_core::mfa::ActionClass;
use fieldvault_core::payment::store::{account, not_ours, record};
use fieldvault_core::payment::{PaymentProvider, ProviderError, RecordPayment};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(record_payment_http, idempotent, with_app);

async fn record_payment_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
    app: &App,
) -> Result<Reply, ApiError> {
    let provider = app.payments()?;
    let route = format!("{} {}", req.method(), req.uri().path());
    record_payment(cx, provider, &route, json_body(req)).await
}

pub async fn record_payment<S: TenantStore, P: PaymentProvider>(
    cx: &Ctx<'_, S>,
    provider: &P,
    route: &str,
    input: Result<RecordPayment, ApiError>,
) -> Result<Reply, ApiError> {
    cx.authorize(
        Action::RecordPayment,
        &Resource::Tenant(cx.caller.tenant.clone()),
    )
    .await?;
    cx.require_step_up(ActionClass::BillingCorrections).await?;
    let input = input?;
    let account = account(cx).await?;
    let found = provider
        .payment(&account, input.provider_ref.trim())
        .await
        .map_err(|e| match e {
            ProviderError::Refused(m) => ApiError::Conflict(format!("the provider refused: {m}")),
            ProviderError::Unavailable(m) => ApiError::Unavailable(m),
        })?
        .ok_or_else(not_ours)?
        .checked()
        .map_err(|m| ApiError::invalid_field("provider_ref", m))?;
    if !found.belongs_to(&cx.caller.tenant, &account) {
        return Err(not_ours());
    }
    let data = serde_json::json!({ "payment": found, "allocations": input.allocations });
    let Some(confirmation_id) = &input.confirmation_id else {
        let allocated: i64 = input.allocations.iter().map(|a| a.amount_minor).sum();
        let summary = format!(
            "Record {} payment {} of {}.{:02} {} ({} ending {}), {}.{:02} allocated to {} invoice(s)",
            provider.name(),
            found.id,
            found.amount_minor / 100,
            found.amount_minor % 100,
            String::from(found.currency.clone()),
            found.brand.clone().unwrap_or_else(|| found.method.clone()),
            found.last4.clone().unwrap_or_default(),
            allocated / 100,
            allocated % 100,
            input.allocations.len()
        );
        let c = confirm::prepare(cx.cursors, cx.caller, route, &data, summary, cx.now());
        return Reply::accepted(&c);
    };
    confirm::check(
        cx.cursors,
        cx.caller,
        route,
        &data,
        confirmation_id,
        cx.now(),
    )?;
    let payment = record(cx, provider.name(), &account, &found, &input.allocations).await?;
    Reply::created(&payment)
}
