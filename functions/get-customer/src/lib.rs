//! `GET /customers/{id}`: one customer of the caller's tenant.
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::customer::Customer;
use fieldvault_core::ids::CustomerId;
use fieldvault_core::keys;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(get_customer_http);

async fn get_customer_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    Reply::ok(&get_customer(cx, &id).await?)
}

/// Load a customer of the caller's tenant; a malformed or unknown id is a 404 alike.
pub async fn load_customer<S: TenantStore>(
    cx: &Ctx<'_, S>,
    raw_id: &str,
) -> Result<Customer, ApiError> {
    let id = CustomerId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
    cx.store
        .get_record::<Customer>(&keys::customer(&cx.caller.tenant, &id))
        .await
        .map_err(store_error)?
        .ok_or(ApiError::NotFound)
}

pub fn resource(c: &Customer) -> Resource {
    Resource::Customer {
        tenant: c.tenant_id.clone(),
        id: c.id,
        assigned_technicians: c.assigned_technicians.clone(),
    }
}

pub async fn get_customer<S: TenantStore>(
    cx: &Ctx<'_, S>,
    raw_id: &str,
) -> Result<Customer, ApiError> {
    let customer = load_customer(cx, raw_id).await?;
    cx.authorize(Action::GetCustomer, &resource(&customer))
        .await?;
    Ok(customer)
}
