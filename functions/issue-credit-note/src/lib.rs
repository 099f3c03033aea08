//! `POST /invoices/{id}/credit-notes`: credit part of an issued invoice. The note takes the
//! tenant's next credit-note number and the invoice its new credited total in one transaction
//! (numbers gapless, never reused). Needs an MFA step-up for billing corrections and two
//! phases. A confirmation is bound to the invoice's version, so it is used once: issuing the
//! note moves the version on, and a second confirm (or one after any other change to the
//! invoice) is refused with 409.
use std::time::Duration;

use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::confirm;
use fieldvault_core::credit_note::{CreditNote, NewCreditNote};
use fieldvault_core::invoice::sequence_write;
use fieldvault_core::invoice::store::load;
use fieldvault_core::keys;
use fieldvault_core::mfa::ActionClass;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::{StoreError, TenantStore};
use lambda_http::Request;

fieldvault_aws::handler!(issue_credit_note_http, idempotent);

/// Concurrent credit notes race for the counter; losers retry with the next number.
const ATTEMPTS: u32 = 25;

async fn issue_credit_note_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let route = format!("{} {}", req.method(), req.uri().path());
    issue_credit_note(cx, &id, &route, json_body(req)).await
}

pub async fn issue_credit_note<S: TenantStore>(
    cx: &Ctx<'_, S>,
    raw_id: &str,
    route: &str,
    input: Result<NewCreditNote, ApiError>,
) -> Result<Reply, ApiError> {
    let invoice = load(cx, raw_id, Action::IssueCreditNote).await?;
    cx.require_step_up(ActionClass::BillingCorrections).await?;
    let input = input?;
    // Checked now for a clear answer before the confirmation; checked again when issued.
    CreditNote::issue(&invoice, &input, 0, &cx.caller.user, cx.now(), cx.ids)?;
    let data = serde_json::json!({
        "invoice": invoice.id, "version": invoice.version,
        "amount_minor": input.amount_minor, "reason": input.reason.trim()
    });
    let Some(confirmation_id) = &input.confirmation_id else {
        let summary = format!(
            "Credit {}.{:02} {} on invoice #{}: {}",
            input.amount_minor / 100,
            input.amount_minor % 100,
            String::from(invoice.currency.clone()),
            invoice.number.unwrap_or_default(),
            input.reason.trim()
        );
        let c = confirm::prepare(cx.cursors, cx.caller, route, &data, summary, cx.now());
        return Reply::accepted(&c);
    };
    confirm::check(
        cx.cursors,
        cx.caller,
        route,
        &data,
        confirmation_id,
        cx.now(),
    )?;
    let t = &cx.caller.tenant;
    for attempt in 0..ATTEMPTS {
        let before: fieldvault_core::invoice::Invoice = cx
            .get(&keys::invoice(t, &invoice.id))
            .await?
            .ok_or(ApiError::NotFound)?;
        // Only the version the confirmation was prepared for: a retry after the counter race
        // reads the invoice again, and a concurrent confirm of the same id finds it moved on.
        if before.version != invoice.version {
            return Err(confirm::stale());
        }
        let counter_key = keys::credit_note_counter(t);
        let stored = cx.store.get(&counter_key).await.map_err(store_error)?;
        let stored_next = stored.and_then(|c| c.get("version").and_then(|v| v.as_u64()));
        let (number, counter) = sequence_write(counter_key, stored_next);
        let (note, after) =
            CreditNote::issue(&before, &input, number, &cx.caller.user, cx.now(), cx.ids)?;
        let mut writes = vec![
            counter,
            note.write(),
            after.write(Some(before.version)),
            fieldvault_core::ledger::entries::credit_note(&note).write(t),
        ];
        writes.extend(fieldvault_core::task::for_invoice(Some(&before), &after));
        let b = serde_json::to_value(&before).map_err(|_| ApiError::Internal)?;
        let a = serde_json::json!({ "credit_note": note, "invoice": after });
        match cx
            .commit(
                Action::IssueCreditNote,
                &format!("invoice/{}", before.id),
                writes,
                Some(&serde_json::json!({ "invoice": b })),
                Some(&a),
            )
            .await
        {
            Ok(()) => return Reply::created(&note),
            Err(StoreError::ConditionFailed { .. }) | Err(StoreError::Contention) => {
                let jitter = u64::from(cx.ids.ulid().random() as u16 % 25);
                tokio::time::sleep(Duration::from_millis(5 + jitter * u64::from(attempt + 1)))
                    .await;
            }
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(ApiError::Conflict(
        "too many credit notes are being issued at once; retry".into(),
    ))
}
