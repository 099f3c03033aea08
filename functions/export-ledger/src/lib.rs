//! `GET /accounting/export?from=YYYY-MM-DD&to=YYYY-MM-DD`: the tenant's ledger for a period
//! (invoices issued and voided, credit notes, payments, refunds) with sums. Needs an MFA
//! step-up for accounting exports; the export is recorded in the audit trail before any of it
//! is returned (no record, no export).
use fieldvault_aws::app::{query_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::keys;
use fieldvault_core::ledger::{Entry, Export, Period};
use fieldvault_core::mfa::ActionClass;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::{record_of, ListQuery, TenantStore};
use lambda_http::Request;

fieldvault_aws::handler!(export_ledger_http);

/// Entries read per query page.
const PAGE: u32 = 500;
/// An export larger than this is refused: ask for a shorter period.
const MAX_ENTRIES: usize = 20_000;

async fn export_ledger_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let from = query_param(req, "from");
    let to = query_param(req, "to");
    Reply::ok(&export_ledger(cx, from.as_deref(), to.as_deref()).await?)
}

pub async fn export_ledger<S: TenantStore>(
    cx: &Ctx<'_, S>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Export, ApiError> {
    cx.authorize(
        Action::ExportLedger,
        &Resource::Tenant(cx.caller.tenant.clone()),
    )
    .await?;
    cx.require_step_up(ActionClass::AccountingExports).await?;
    let period = Period::parse(from, to)?;
    let mut entries = Vec::new();
    for month in period.months() {
        let mut start = None;
        loop {
            let page = cx
                .store
                .list(&ListQuery {
                    index: false,
                    partition: keys::ledger_month(&cx.caller.tenant, &month),
                    limit: PAGE,
                    start,
                    newest_first: false,
                })
                .await
                .map_err(store_error)?;
            entries.extend(page.items.iter().filter_map(record_of::<Entry>));
            if entries.len() > MAX_ENTRIES {
                return Err(ApiError::invalid_field(
                    "to",
                    "the period holds too many entries; export a shorter one",
                ));
            }
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
    }
    let export = Export::new(&period, entries);
    let summary = serde_json::json!({
        "from": export.from, "to": export.to, "entries": export.entries.len(),
    });
    cx.commit(
        Action::ExportLedger,
        "ledger",
        Vec::new(),
        None,
        Some(&summary),
    )
    .await
    .map_err(store_error)?;
    Ok(export)
}
