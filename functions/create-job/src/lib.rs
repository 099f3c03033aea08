//! `POST /jobs`: a job for a customer, from an approved estimate's approved option (its
//! scope and title, never its prices; one job per estimate) or directly.
use fieldvault_aws::app::{json_body, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::estimate::Estimate;
use fieldvault_core::job::{store::save, Job, NewJob, ScopeItem};
use fieldvault_core::keys;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::{Condition, Item, TenantStore, Write};
use lambda_http::Request;

fieldvault_aws::handler!(create_job_http, idempotent);

async fn create_job_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    cx.authorize(
        Action::CreateJob,
        &Resource::Tenant(cx.caller.tenant.clone()),
    )
    .await?;
    let input: NewJob = json_body(req)?;
    Reply::created(&create_job(cx, &input).await?)
}

pub async fn create_job<S: TenantStore>(cx: &Ctx<'_, S>, input: &NewJob) -> Result<Job, ApiError> {
    let t = &cx.caller.tenant;
    fieldvault_core::customer::store::referenced(cx, &input.customer_id, input.location_id).await?;
    let mut extra = Vec::new();
    let job = match input.estimate_id {
        Some(estimate_id) => {
            if !input.scope.is_empty() {
                return Err(ApiError::invalid_field(
                    "scope",
                    "comes from the estimate; leave it out",
                ));
            }
            let estimate = cx
                .store
                .get_record::<Estimate>(&keys::estimate(t, &estimate_id))
                .await
                .map_err(store_error)?
                .filter(|e| e.customer_id == input.customer_id)
                .ok_or_else(|| {
                    ApiError::invalid_field("estimate_id", "is not an estimate of this customer")
                })?;
            let option = estimate
                .approved_option()
                .ok_or_else(|| ApiError::Conflict("the estimate is not approved".into()))?;
            let scope = option
                .lines
                .iter()
                .map(|l| ScopeItem {
                    description: l.description.clone(),
                    quantity: l.quantity.clone(),
                })
                .collect();
            extra.push(Write::Put {
                key: keys::estimate_job(t, &estimate_id),
                index: None,
                item: Item::new(),
                condition: Condition::NotExists,
            });
            Job::create(
                input,
                Some((&estimate.title, scope, option.id)),
                t,
                &cx.caller.user,
                cx.now(),
                cx.ids,
            )?
        }
        None => Job::create(input, None, t, &cx.caller.user, cx.now(), cx.ids)?,
    };
    save(cx, Action::CreateJob, None, &job, extra)
        .await
        .map_err(|e| match e {
            ApiError::Conflict(_) if input.estimate_id.is_some() => {
                ApiError::Conflict("this estimate already has a job".into())
            }
            other => other,
        })?;
    Ok(job)
}
