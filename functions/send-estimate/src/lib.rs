//! `POST /estimates/{id}/send`: mark a draft as sent to the customer, with an approve link
//! (single use; it dies when the estimate is revised or decided, expires or is revoked),
//! recorded in the outbox with the link sealed by KMS, all in one audited transaction. The
//! answer carries the link once.
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_aws::portal::{issue_link, LinkRequest};
use fieldvault_aws::App;
use fieldvault_core::actions::Action;
use fieldvault_core::customer::Customer;
use fieldvault_core::estimate::store::load;
use fieldvault_core::keys;
use fieldvault_core::link::{DocumentKind, LinkPurpose, Sent};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(send_estimate_http, with_app);

async fn send_estimate_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
    app: &App,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let before = load(cx, &id, Action::SendEstimate).await?;
    let after = before.send(cx.now())?;
    let customer: Customer = cx
        .get(&keys::customer(&cx.caller.tenant, &before.customer_id))
        .await?
        .ok_or(ApiError::NotFound)?;
    let session = app.session_for(cx.caller).await?;
    let (link, link_writes) = issue_link(
        cx,
        app,
        &session,
        LinkRequest {
            purpose: LinkPurpose::Approve,
            kind: DocumentKind::Estimate,
            document_id: after.id.to_string(),
            document_version: u64::from(after.revision),
            customer: &customer,
            subject: format!("Estimate: {}", after.title),
        },
    )
    .await?;
    let mut writes = vec![after.write(Some(before.version))];
    writes.extend(fieldvault_core::task::for_estimate(
        Some(&before),
        &after,
        cx.now(),
    ));
    writes.extend(link_writes);
    let resource = format!("estimate/{}", after.id);
    cx.commit_change(
        Action::SendEstimate,
        &resource,
        writes,
        Some(&before),
        &after,
        "estimate",
    )
    .await?;
    Reply::ok(&Sent {
        record: after.view(cx.now().date()),
        link,
    })
}
