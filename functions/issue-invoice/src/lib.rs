//! `POST /invoices/{id}/issue`: allocate the tenant's next invoice number and issue the
//! invoice in one transaction: numbers are unique, gapless and never reused.
use std::time::Duration;

use fieldvault_aws::app::{path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::invoice::store::{load, read_counter, try_issue};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(issue_invoice_http);

/// Concurrent issues in one tenant race for the counter; each loser retries with the next
/// number after a short, growing, randomized pause.
const ATTEMPTS: u32 = 25;

async fn issue_invoice_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    // The draft and the counter are independent reads: one round trip. The counter is only
    // used once the draft is loaded and the caller authorized for it.
    let (draft, counter) = tokio::join!(load(cx, &id, Action::IssueInvoice), read_counter(cx));
    let draft = draft?;
    let mut counter = Some(counter?);
    for attempt in 0..ATTEMPTS {
        let stored = match counter.take() {
            Some(first) => first,
            None => read_counter(cx).await?,
        };
        if let Some(issued) = try_issue(cx, &draft, stored).await? {
            return Reply::ok(&issued.view(cx.now().date()));
        }
        let jitter = u64::from(cx.ids.ulid().random() as u16 % 25);
        tokio::time::sleep(Duration::from_millis(5 + jitter * u64::from(attempt + 1))).await;
    }
    Err(ApiError::Conflict(
        "too many invoices are being issued at once; retry".into(),
    ))
}
