//! `GET /customers/{id}/timeline`: the connected record of one customer, in order: leads and
//! jobs (with their visits) from the operations index, estimates, invoices, credit notes and
//! payments from the billing index. One read, then the two queries at once. Technicians (only
//! for customers with their work) get no billing and only their own jobs.
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::caller::Role;
use fieldvault_core::credit_note::CreditNote;
use fieldvault_core::customer::Customer;
use fieldvault_core::estimate::Estimate;
use fieldvault_core::ids::CustomerId;
use fieldvault_core::intake::Lead;
use fieldvault_core::invoice::Invoice;
use fieldvault_core::job::Job;
use fieldvault_core::keys;
use fieldvault_core::payment::Payment;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::routes::{Timeline, TimelineEntry};
use fieldvault_core::store::{ListQuery, TenantStore};
use lambda_http::Request;
use serde_json::Value;

fieldvault_aws::handler!(get_timeline_http);

async fn get_timeline_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    Reply::ok(&timeline(cx, &id).await?)
}

/// Each item of a customer index is one of a few record types; its shape says which.
fn entry(item: fieldvault_core::store::Item, today: time::Date) -> Option<TimelineEntry> {
    let value = Value::Object(item.clone());
    let (kind, id, at, record) = if let Some(j) = Job::from_item(&item) {
        (
            "job",
            j.id.to_string(),
            j.created_at,
            serde_json::to_value(&j).ok()?,
        )
    } else if let Some(e) = Estimate::from_item(&item) {
        (
            "estimate",
            e.id.to_string(),
            e.created_at,
            serde_json::to_value(e.view(today)).ok()?,
        )
    } else if let Some(p) = Payment::from_item(&item) {
        (
            "payment",
            p.id.to_string(),
            p.received_at,
            serde_json::to_value(&p).ok()?,
        )
    } else if let Some(n) = CreditNote::from_item(&item) {
        (
            "credit_note",
            n.id.to_string(),
            n.issued_at,
            serde_json::to_value(&n).ok()?,
        )
    } else if let Some(i) = Invoice::from_item(&item) {
        (
            "invoice",
            i.id.to_string(),
            i.created_at,
            serde_json::to_value(i.view(today)).ok()?,
        )
    } else if let Ok(l) = serde_json::from_value::<Lead>(value) {
        (
            "lead",
            l.id.to_string(),
            l.created_at,
            serde_json::to_value(&l).ok()?,
        )
    } else {
        return None;
    };
    let at = at
        .format(&time::format_description::well_known::Rfc3339)
        .ok()?;
    Some(TimelineEntry {
        kind: kind.into(),
        id,
        at,
        record,
    })
}

async fn entries<S: TenantStore>(
    cx: &Ctx<'_, S>,
    partition: String,
) -> Result<Vec<TimelineEntry>, ApiError> {
    let page = cx
        .store
        .list(&ListQuery {
            index: true,
            partition,
            limit: 200,
            start: None,
            newest_first: false,
        })
        .await
        .map_err(store_error)?;
    let today = cx.now().date();
    Ok(page
        .items
        .into_iter()
        .filter_map(|item| entry(item, today))
        .collect())
}

pub async fn timeline<S: TenantStore>(cx: &Ctx<'_, S>, raw_id: &str) -> Result<Timeline, ApiError> {
    let t = &cx.caller.tenant;
    let id = CustomerId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
    let customer = cx
        .store
        .get(&keys::customer(t, &id))
        .await
        .map_err(store_error)?
        .as_ref()
        .and_then(Customer::from_item)
        .ok_or(ApiError::NotFound)?;
    let resource = Resource::Customer {
        tenant: customer.tenant_id.clone(),
        id: customer.id,
        assigned_technicians: customer.assigned_technicians.clone(),
    };
    cx.authorize(Action::GetTimeline, &resource).await?;
    let technician = cx.caller.role == Role::Technician;
    let ops = entries(cx, keys::customer_ops_index(t, &id, "", "").pk);
    let mut all = if technician {
        ops.await?
    } else {
        // The two partitions are independent: one round trip, not two.
        let billing = entries(cx, keys::customer_billing_index(t, &id, "", "").pk);
        let (ops, billing) = tokio::try_join!(ops, billing)?;
        ops.into_iter().chain(billing).collect()
    };
    if technician {
        // Their own jobs only; leads and billing are the office's.
        let me = serde_json::json!(cx.caller.user);
        all.retain(|e| {
            e.kind == "job"
                && e.record
                    .get("assigned_technicians")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.contains(&me))
        });
    }
    all.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
    Ok(Timeline {
        customer,
        entries: all,
    })
}
