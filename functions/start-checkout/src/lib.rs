//! `POST /invoices/{id}/checkout`: open the payment provider's hosted checkout for what an
//! issued invoice still owes. The customer pays on the provider's page (card data never
//! reaches us); the provider's signed webhook then records the payment.
use std::collections::BTreeMap;

use fieldvault_aws::app::{path_param, Reply};
use fieldvault_aws::App;
use fieldvault_core::actions::Action;
use fieldvault_core::invoice::store::load;
use fieldvault_core::invoice::{Invoice, InvoiceStatus};
use fieldvault_core::payment::{
    CheckoutRequest, CheckoutStarted, PaymentProvider, ProviderError, META_CUSTOMER, META_INVOICE,
    META_TENANT,
};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(start_checkout_http, with_app);

async fn start_checkout_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
    app: &App,
) -> Result<Reply, ApiError> {
    let provider = app.payments()?;
    let id = path_param(req, "id").unwrap_or_default();
    let invoice = load(cx, &id, Action::StartCheckout).await?;
    let return_url = provider
        .settings()
        .return_url
        .replace("{invoice_id}", &invoice.id.to_string());
    let started = start_checkout(cx, provider, &invoice, &return_url).await?;
    Reply::created(&started)
}

pub async fn start_checkout<S: TenantStore, P: PaymentProvider>(
    cx: &Ctx<'_, S>,
    provider: &P,
    invoice: &Invoice,
    return_url: &str,
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
    let checkout = provider
        .create_checkout(&request)
        .await
        .map_err(|e| match e {
            ProviderError::Refused(m) => ApiError::Conflict(format!("the provider refused: {m}")),
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
        Action::StartCheckout,
        &format!("invoice/{}", invoice.id),
        Vec::new(),
        None,
        Some(&after),
    )
    .await
    .map_err(fieldvault_core::request::store_error)?;
    Ok(started)
}
