//! `POST /payments/{id}/refunds`: refund part or all of a captured payment. Needs an MFA
//! step-up for billing corrections and two phases (prepare: 202 with a summary; confirm with
//! the id). The refund is reserved first (payment, invoices and audit in one transaction under
//! the payment's version, so concurrent refunds can never exceed the capture), then sent to
//! the provider on the tenant's own account, then settled: a refusal releases the
//! reservation. A confirmation is bound to the payment's version, so it is used once: the
//! reservation moves the version on, and a second confirm (or one after any other change to
//! the payment) is refused with 409.
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_aws::App;
use fieldvault_core::actions::Action;
use fieldvault_core::confirm;
use fieldvault_core::ids::RefundId;
use fieldvault_core::mfa::ActionClass;
use fieldvault_core::payment::store::{account, load, reserve_refund, settle_refund};
use fieldvault_core::payment::{NewRefund, PaymentProvider, ProviderError, RefundStatus};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(refund_payment_http, idempotent, with_app);

async fn refund_payment_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
    app: &App,
) -> Result<Reply, ApiError> {
    let provider = app.payments()?;
    let id = path_param(req, "id").unwrap_or_default();
    let route = format!("{} {}", req.method(), req.uri().path());
    refund_payment(cx, provider, &id, &route, json_body(req)).await
}

pub async fn refund_payment<S: TenantStore, P: PaymentProvider>(
    cx: &Ctx<'_, S>,
    provider: &P,
    raw_id: &str,
    route: &str,
    input: Result<NewRefund, ApiError>,
) -> Result<Reply, ApiError> {
    let payment = load(cx, raw_id, Action::RefundPayment).await?;
    cx.require_step_up(ActionClass::BillingCorrections).await?;
    let input = input?;
    // A tenant without a provider account has nothing to refund on: refused before anything.
    let account = account(cx).await?;
    // Checked now for a clear answer; the reservation checks again under the version.
    let refund_id = RefundId::new(cx.ids.ulid());
    payment.reserve_refund(&input, refund_id, cx.caller.user.as_str(), cx.now())?;
    let data = serde_json::json!({
        "payment": payment.id, "version": payment.version,
        "amount_minor": input.amount_minor, "reason": input.reason.trim()
    });
    let Some(confirmation_id) = &input.confirmation_id else {
        let summary = format!(
            "Refund {}.{:02} {} of payment {} ({} ending {}): {}",
            input.amount_minor / 100,
            input.amount_minor % 100,
            String::from(payment.currency.clone()),
            payment.provider_ref,
            payment
                .brand
                .clone()
                .unwrap_or_else(|| payment.method.clone()),
            payment.last4.clone().unwrap_or_default(),
            input.reason.trim()
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
    let reserved = reserve_refund(cx, &payment.id, payment.version, &input, refund_id).await?;
    let answer = provider
        .refund(
            &account,
            &reserved.provider_ref,
            input.amount_minor,
            &refund_id.to_string(),
        )
        .await;
    let outcome = match &answer {
        Ok(r) if r.status != fieldvault_core::payment::ProviderPaymentStatus::Failed => {
            Ok(r.id.clone())
        }
        Ok(_) => Err("the provider declined the refund".to_owned()),
        Err(ProviderError::Refused(m)) => Err(m.clone()),
        // Unknown whether the provider acted: the refund stays pending (reserved, so it cannot
        // be exceeded) and the same idempotency key makes a retry safe at the provider.
        Err(ProviderError::Unavailable(m)) => {
            return Err(ApiError::Unavailable(format!(
                "the provider did not answer ({m}); refund {refund_id} stays pending"
            )))
        }
    };
    let settled = settle_refund(cx, &payment.id, refund_id, outcome).await?;
    let failed = settled
        .refunds
        .iter()
        .any(|r| r.id == refund_id && r.status == RefundStatus::Failed);
    if failed {
        return Err(ApiError::Conflict(
            "the provider refused the refund; nothing was refunded".into(),
        ));
    }
    Reply::created(&settled)
}
