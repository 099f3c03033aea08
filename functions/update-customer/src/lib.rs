//! `PATCH /customers/{id}`: change a customer, optimistic on its version.
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::customer::{Customer, CustomerPatch};
use fieldvault_core::ids::CustomerId;
use fieldvault_core::keys;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::{StoreError, TenantStore};
use lambda_http::Request;

fieldvault_aws::handler!(update_customer_http);

async fn update_customer_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let current = load(cx, &id).await?;
    let patch: CustomerPatch = json_body(req)?;
    Reply::ok(&update_customer(cx, current, &patch).await?)
}

async fn load<S: TenantStore>(cx: &Ctx<'_, S>, raw_id: &str) -> Result<Customer, ApiError> {
    let id = CustomerId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
    let item = cx
        .store
        .get(&keys::customer(&cx.caller.tenant, &id))
        .await
        .map_err(store_error)?;
    let customer = item
        .as_ref()
        .and_then(Customer::from_item)
        .ok_or(ApiError::NotFound)?;
    let resource = Resource::Customer {
        tenant: customer.tenant_id.clone(),
        id: customer.id,
        assigned_technicians: customer.assigned_technicians.clone(),
    };
    cx.authorize(Action::UpdateCustomer, &resource).await?;
    Ok(customer)
}

/// Apply the patch; the write is conditional on the version read, so a concurrent change is
/// a 409, never a lost update.
pub async fn update_customer<S: TenantStore>(
    cx: &Ctx<'_, S>,
    current: Customer,
    patch: &CustomerPatch,
) -> Result<Customer, ApiError> {
    let next = current.patched(patch, cx.now(), cx.ids)?;
    let before = serde_json::to_value(&current).map_err(|_| ApiError::Internal)?;
    let after = serde_json::to_value(&next).map_err(|_| ApiError::Internal)?;
    match cx
        .commit(
            Action::UpdateCustomer,
            &format!("customer/{}", next.id),
            next.update_writes(&current),
            Some(&before),
            Some(&after),
        )
        .await
    {
        Ok(()) => Ok(next),
        Err(StoreError::ConditionFailed { index: 0 }) => Err(ApiError::Conflict(
            "the customer changed meanwhile; reload and retry".into(),
        )),
        Err(StoreError::ConditionFailed { .. }) => Err(ApiError::Conflict(
            "another customer already has one of these phone numbers or emails".into(),
        )),
        Err(e) => Err(store_error(e)),
    }
}
