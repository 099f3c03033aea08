//! `POST /invoices/{id}/checkout`: open the payment provider's hosted checkout for what an
//! issued invoice still owes. The customer pays on the provider's page (card data never
//! reaches us); the provider's signed webhook then records the payment.
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_aws::App;
use fieldvault_core::actions::Action;
use fieldvault_core::invoice::store::load;
use fieldvault_core::payment::store::start_checkout;
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
    let started =
        start_checkout(cx, provider, &invoice, &return_url, Action::StartCheckout).await?;
    Reply::created(&started)
}
