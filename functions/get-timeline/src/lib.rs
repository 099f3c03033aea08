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
use fieldvault_core::keys::{self, CustomerRecord};
use fieldvault_core::payment::Payment;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::routes::{Timeline, TimelineEntry, TimelineRecord};
use fieldvault_core::store::{record_of, Item, ListQuery, TenantStore};
use lambda_http::Request;

fieldvault_aws::handler!(get_timeline_http);

async fn get_timeline_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    Reply::ok(&timeline(cx, &id).await?)
}

/// An entry of a customer index partition; its sort key says which record type it is.
fn entry(listed_as: &str, item: &Item, today: time::Date) -> Option<TimelineEntry> {
    let (kind, id, at, record) = match CustomerRecord::of_sort_key(listed_as)? {
        CustomerRecord::Job => {
            let j = Job::from_item(item)?;
            (
                "job",
                j.id.to_string(),
                j.created_at,
                TimelineRecord::Job(j),
            )
        }
        CustomerRecord::Estimate => {
            let e = Estimate::from_item(item)?.view(today);
            let (id, at) = (e.id.to_string(), e.created_at);
            ("estimate", id, at, TimelineRecord::Estimate(e))
        }
        CustomerRecord::Payment => {
            let p = Payment::from_item(item)?;
            (
                "payment",
                p.id.to_string(),
                p.received_at,
                TimelineRecord::Payment(p),
            )
        }
        CustomerRecord::CreditNote => {
            let n = CreditNote::from_item(item)?;
            let (id, at) = (n.id.to_string(), n.issued_at);
            ("credit_note", id, at, TimelineRecord::CreditNote(n))
        }
        CustomerRecord::Invoice => {
            let i = Invoice::from_item(item)?.view(today);
            let (id, at) = (i.id.to_string(), i.created_at);
            ("invoice", id, at, TimelineRecord::Invoice(i))
        }
        CustomerRecord::Lead => {
            let l = record_of::<Lead>(item)?;
            (
                "lead",
                l.id.to_string(),
                l.created_at,
                TimelineRecord::Lead(l),
            )
        }
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
        .sort_keys
        .iter()
        .zip(&page.items)
        .filter_map(|(listed_as, item)| entry(listed_as, item, today))
        .collect())
}

pub async fn timeline<S: TenantStore>(cx: &Ctx<'_, S>, raw_id: &str) -> Result<Timeline, ApiError> {
    let t = &cx.caller.tenant;
    let id = CustomerId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
    let customer = cx
        .store
        .get_record::<Customer>(&keys::customer(t, &id))
        .await
        .map_err(store_error)?
        .ok_or(ApiError::NotFound)?;
    let resource = Resource::Customer {
        tenant: customer.tenant_id.clone(),
        id: customer.id,
        assigned_technicians: customer.assigned_technicians.clone(),
    };
    cx.authorize(Action::GetTimeline, &resource).await?;
    let technician = cx.caller.role == Role::Technician;
    let ops = entries(cx, keys::customer_ops_partition(t, &id));
    let mut all = if technician {
        ops.await?
    } else {
        // The two partitions are independent: one round trip, not two.
        let billing = entries(cx, keys::customer_billing_partition(t, &id));
        let (ops, billing) = tokio::try_join!(ops, billing)?;
        ops.into_iter().chain(billing).collect()
    };
    if technician {
        // Their own jobs only; leads and billing are the office's.
        all.retain(|e| {
            matches!(&e.record, TimelineRecord::Job(j)
                if j.assigned_technicians.contains(&cx.caller.user))
        });
    }
    all.sort_by(|a, b| a.at.cmp(&b.at).then(a.id.cmp(&b.id)));
    Ok(Timeline {
        customer,
        entries: all,
    })
}
