//! `POST /invoices`: a draft invoice for a customer, from a job (its approved estimate
//! option's lines are copied, prices included) and/or explicit lines.
use fieldvault_aws::app::{json_body, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::estimate::Estimate;
use fieldvault_core::invoice::{Invoice, NewInvoice};
use fieldvault_core::job::Job;
use fieldvault_core::keys;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(create_invoice_http, idempotent);

async fn create_invoice_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    cx.authorize(
        Action::CreateInvoice,
        &Resource::Tenant(cx.caller.tenant.clone()),
    )
    .await?;
    let input: NewInvoice = json_body(req)?;
    Reply::created(&create_invoice(cx, &input).await?.view(cx.now().date()))
}

pub async fn create_invoice<S: TenantStore>(
    cx: &Ctx<'_, S>,
    input: &NewInvoice,
) -> Result<Invoice, ApiError> {
    let t = &cx.caller.tenant;
    fieldvault_core::customer::store::referenced(cx, &input.customer_id, None).await?;
    if input.deposit.is_some() || input.estimate_id.is_some() {
        let invoice = deposit_invoice(cx, input).await?;
        return save_new(cx, invoice).await;
    }
    let (copied, estimate_id) = match input.job_id {
        None => (Vec::new(), None),
        Some(job_id) => {
            let job = cx
                .store
                .get_record::<Job>(&keys::job(t, &job_id))
                .await
                .map_err(store_error)?
                .filter(|j| j.customer_id == input.customer_id)
                .ok_or_else(|| {
                    ApiError::invalid_field("job_id", "is not a job of this customer")
                })?;
            match job.estimate_id {
                None => (Vec::new(), None),
                Some(eid) => {
                    let estimate = cx
                        .store
                        .get(&keys::estimate(t, &eid))
                        .await
                        .map_err(store_error)?;
                    let lines = estimate
                        .as_ref()
                        .and_then(Estimate::from_item)
                        .and_then(|e| e.approved_option().map(|o| o.lines.clone()))
                        .unwrap_or_default();
                    (lines, Some(eid))
                }
            }
        }
    };
    let invoice = Invoice::create(
        input,
        copied,
        estimate_id,
        t,
        &cx.caller.user,
        cx.now(),
        cx.ids,
    )?;
    save_new(cx, invoice).await
}

async fn save_new<S: TenantStore>(cx: &Ctx<'_, S>, invoice: Invoice) -> Result<Invoice, ApiError> {
    let after = serde_json::to_value(&invoice).map_err(|_| ApiError::Internal)?;
    let mut writes = vec![invoice.write(None)];
    writes.extend(fieldvault_core::task::for_invoice(None, &invoice));
    cx.commit(
        Action::CreateInvoice,
        &format!("invoice/{}", invoice.id),
        writes,
        None,
        Some(&after),
    )
    .await
    .map_err(store_error)?;
    Ok(invoice)
}

/// A deposit invoice on an approved estimate of the customer.
async fn deposit_invoice<S: TenantStore>(
    cx: &Ctx<'_, S>,
    input: &NewInvoice,
) -> Result<Invoice, ApiError> {
    let estimate_id = input
        .estimate_id
        .ok_or_else(|| ApiError::invalid_field("estimate_id", "is required for a deposit"))?;
    let estimate = cx
        .store
        .get_record::<Estimate>(&keys::estimate(&cx.caller.tenant, &estimate_id))
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::invalid_field("estimate_id", "is not an estimate"))?;
    Invoice::deposit(input, &estimate, &cx.caller.user, cx.now(), cx.ids)
}
