//! `POST /estimates`: a draft estimate with options of priced lines for a customer.
use fieldvault_aws::app::{json_body, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::estimate::{Estimate, NewEstimate};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(create_estimate_http, idempotent);

async fn create_estimate_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    cx.authorize(
        Action::CreateEstimate,
        &Resource::Tenant(cx.caller.tenant.clone()),
    )
    .await?;
    let input: NewEstimate = json_body(req)?;
    Reply::created(&create_estimate(cx, &input).await?.view(cx.now().date()))
}

/// Create the draft. The customer (and location, if named) must be the tenant's own.
pub async fn create_estimate<S: TenantStore>(
    cx: &Ctx<'_, S>,
    input: &NewEstimate,
) -> Result<Estimate, ApiError> {
    fieldvault_core::customer::store::referenced(cx, &input.customer_id, input.location_id).await?;
    let estimate = Estimate::create(input, &cx.caller.tenant, &cx.caller.user, cx.now(), cx.ids)?;
    let after = serde_json::to_value(&estimate).map_err(|_| ApiError::Internal)?;
    cx.commit(
        Action::CreateEstimate,
        &format!("estimate/{}", estimate.id),
        vec![estimate.write(None)],
        None,
        Some(&after),
    )
    .await
    .map_err(store_error)?;
    Ok(estimate)
}
