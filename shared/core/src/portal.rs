//! The customer portal's pages: server-rendered HTML, no scripts at all, one inline style
//! block allowed by a per-response nonce, every value escaped. Readable on a phone.
use crate::estimate::{Estimate, EstimateStatus};
use crate::invoice::{Invoice, InvoiceStatus};
use crate::money::{Currency, Line};

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub fn money(minor: i64, currency: &Currency) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!(
        "{sign}{}.{:02} {}",
        m / 100,
        m % 100,
        escape(&String::from(currency.clone()))
    )
}

/// The Content-Security-Policy of a portal page: nothing but the nonce'd style; forms only
/// to this page and, for the pay button, the payment provider.
pub fn csp(nonce: &str, provider_origin: Option<&str>) -> String {
    let forms = match provider_origin {
        Some(o) => format!("'self' {o}"),
        None => "'self'".into(),
    };
    format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; form-action {forms}; frame-ancestors 'none'; base-uri 'none'"
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;line-height:1.4;color:#222}table{width:100%;border-collapse:collapse;margin:.5rem 0}td,th{padding:.35rem;border-bottom:1px solid #ddd;text-align:left}td.n,th.n{text-align:right}fieldset{border:1px solid #ccc;border-radius:.4rem;margin:1rem 0;padding:.8rem}label{display:block;margin:.5rem 0}input[type=text],textarea{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}button{padding:.7rem 1.2rem;font-size:1rem;margin:.5rem 0}.muted{color:#666}.ok{color:#075}";

/// A whole page.
pub fn page(title: &str, nonce: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width,initial-scale=1\"><meta name=robots content=\"noindex,nofollow\"><meta name=referrer content=no-referrer><title>{t}</title><style nonce=\"{nonce}\">{STYLE}</style></head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title),
        nonce = escape(nonce),
    )
}

/// What every refused link shows: the same words whatever the reason.
pub fn neutral(nonce: &str) -> String {
    page(
        "Link not available",
        nonce,
        "<p>This link is not available. It may have expired or already been used.</p><p>Please contact the business that sent it for a new link.</p>",
    )
}

pub fn message(title: &str, text: &str, nonce: &str) -> String {
    page(title, nonce, &format!("<p>{}</p>", escape(text)))
}

fn lines_table(lines: &[Line], currency: &Currency) -> String {
    let mut rows = String::new();
    for l in lines {
        rows.push_str(&format!(
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            escape(&l.description),
            escape(&l.quantity),
            money(l.total_minor, currency)
        ));
    }
    format!(
        "<table><tr><th>Item</th><th class=n>Qty</th><th class=n>Amount</th></tr>{rows}</table>"
    )
}

/// An estimate with its options; while `decidable`, one form to approve an option (typed name
/// as signature and a consent checkbox) and one to decline.
pub fn estimate(e: &Estimate, decidable: bool, action: &str, nonce: &str) -> String {
    let mut body = format!(
        "<p>{}</p><p class=muted>Revision {} · valid until {}</p>",
        escape(&e.title),
        e.revision,
        e.valid_until
    );
    for o in &e.options {
        body.push_str(&format!(
            "<fieldset><legend>{}</legend>{}<p>Total: <strong>{}</strong></p></fieldset>",
            escape(&o.name),
            lines_table(&o.lines, &e.currency),
            money(o.totals.total_minor, &e.currency)
        ));
    }
    match (&e.status, decidable) {
        (EstimateStatus::Sent, true) => {
            let mut radios = String::new();
            for (i, o) in e.options.iter().enumerate() {
                radios.push_str(&format!(
                    "<label><input type=radio name=option_id value=\"{}\"{}> {} — {}</label>",
                    o.id,
                    if i == 0 { " checked" } else { "" },
                    escape(&o.name),
                    money(o.totals.total_minor, &e.currency)
                ));
            }
            body.push_str(&format!(
                "<form method=post action=\"{a}\"><input type=hidden name=action value=approve><h2>Approve</h2>{radios}<label>Your full name (your signature)<input type=text name=name id=name autocomplete=name maxlength=200 required></label><label><input type=checkbox name=consent value=yes id=consent required> I approve this option and the price shown, and agree to sign electronically.</label><button type=submit id=approve>Approve</button></form><form method=post action=\"{a}\"><input type=hidden name=action value=decline><h2>Decline</h2><label>Reason (optional)<textarea name=reason maxlength=1000></textarea></label><button type=submit id=decline>Decline</button></form>",
                a = escape(action)
            ));
        }
        (EstimateStatus::Approved, _) => {
            let name = e
                .decision
                .as_ref()
                .and_then(|d| d.customer_name.clone())
                .unwrap_or_default();
            body.push_str(&format!(
                "<p class=ok id=status>Approved by {}. Thank you.</p>",
                escape(&name)
            ));
        }
        (EstimateStatus::Declined, _) => {
            body.push_str("<p id=status>Declined.</p>");
        }
        _ => {}
    }
    page("Estimate", nonce, &body)
}

/// An invoice with its balance; a pay button while something is owed and payable, and a
/// receipt once it is paid.
pub fn invoice(i: &Invoice, payable: bool, action: &str, nonce: &str) -> String {
    let mut body = format!(
        "<p>Invoice #{}{}</p>{}<p>Total: <strong>{}</strong></p>",
        i.number.unwrap_or_default(),
        i.due_date
            .map(|d| format!(" · due {d}"))
            .unwrap_or_default(),
        lines_table(&i.lines, &i.currency),
        money(i.totals.total_minor, &i.currency)
    );
    if i.credited_minor > 0 {
        body.push_str(&format!(
            "<p>Credited: {}</p>",
            money(i.credited_minor, &i.currency)
        ));
    }
    body.push_str(&format!(
        "<p>Paid: {}</p><p>Balance: <strong id=balance>{}</strong></p>",
        money(i.paid_minor, &i.currency),
        money(i.balance(), &i.currency)
    ));
    if i.status == InvoiceStatus::Issued && i.balance() <= 0 {
        body.push_str(&format!(
            "<h2>Receipt</h2><p class=ok id=receipt>Paid in full: {} received. Thank you.</p>",
            money(i.paid_minor, &i.currency)
        ));
    } else if payable && i.status == InvoiceStatus::Issued {
        body.push_str(&format!(
            "<form method=post action=\"{}\"><input type=hidden name=action value=pay><button type=submit id=pay>Pay {}</button></form><p class=muted>You will pay on our payment provider's secure page.</p>",
            escape(action),
            money(i.balance(), &i.currency)
        ));
    }
    page("Invoice", nonce, &body)
}

/// A signed-in customer's documents, each behind a fresh short-lived link.
pub fn documents(customer_name: &str, entries: &[(String, String)], nonce: &str) -> String {
    let mut body = format!("<p>Hello {}.</p>", escape(customer_name));
    if entries.is_empty() {
        body.push_str("<p>There are no open documents.</p>");
    } else {
        body.push_str("<ul>");
        for (label, url) in entries {
            body.push_str(&format!(
                "<li><a href=\"{}\">{}</a></li>",
                escape(url),
                escape(label)
            ));
        }
        body.push_str("</ul>");
    }
    page("Your documents", nonce, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_pages_carry_no_script() {
        let p = message("<b>", "<script>alert(1)</script>\"'&", "n0nce");
        assert!(!p.contains("<script"));
        assert!(p.contains("&lt;script&gt;"));
        assert!(p.contains("noindex"));
        assert!(p.contains("nonce=\"n0nce\""));
    }

    #[test]
    fn the_neutral_page_says_the_same_thing_every_time() {
        assert_eq!(
            neutral("a").replace("\"a\"", ""),
            neutral("b").replace("\"b\"", "")
        );
    }

    #[test]
    fn the_csp_allows_no_script_and_forms_only_where_needed() {
        let c = csp("abc", Some("https://pay.example"));
        assert!(c.starts_with("default-src 'none'"));
        assert!(!c.contains("script-src"));
        assert!(c.contains("style-src 'nonce-abc'"));
        assert!(c.contains("form-action 'self' https://pay.example"));
        assert!(c.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn money_shows_minor_units_as_decimals() {
        let usd = Currency::default();
        assert_eq!(money(12_900, &usd), "129.00 USD");
        assert_eq!(money(-5, &usd), "-0.05 USD");
    }
}

/// Opening a link inside its tenant session: the link record, then its document, each
/// checked; a refusal is recorded and shown as the neutral page.
pub mod flow {
    use crate::actions::Action;
    use crate::audit::Outcome;
    use crate::customer::Customer;
    use crate::estimate::{Estimate, EstimateStatus};
    use crate::ids::{CustomerId, EstimateId, InvoiceId};
    use crate::invoice::{Invoice, InvoiceStatus};
    use crate::keys;
    use crate::link::{DocumentKind, Link, LinkPurpose, Refusal};
    use crate::problem::ApiError;
    use crate::request::Ctx;
    use crate::store::TenantStore;

    pub enum Document {
        Estimate(Estimate),
        Invoice(Invoice),
        Customer(Customer),
    }

    pub struct Opened {
        pub link: Link,
        pub document: Document,
    }

    /// Why a portal request ends: a refused link (neutral page) or an error.
    pub enum Stop {
        Refused(Refusal),
        Error(ApiError),
    }

    impl From<ApiError> for Stop {
        fn from(e: ApiError) -> Stop {
            Stop::Error(e)
        }
    }

    /// The link `id` and its document, if the link still opens.
    pub async fn open<S: TenantStore>(cx: &Ctx<'_, S>, id: &str) -> Result<Opened, Stop> {
        let t = &cx.caller.tenant;
        let link: Link = cx
            .get(&keys::link(t, id))
            .await?
            .ok_or(Stop::Refused(Refusal::Unknown))?;
        link.check(cx.now()).map_err(Stop::Refused)?;
        let stale = Stop::Refused(Refusal::Stale);
        let document = match link.document_kind {
            DocumentKind::Estimate => {
                let eid = EstimateId::parse(&link.document_id)
                    .map_err(|_| Stop::Error(ApiError::Internal))?;
                let e: Estimate = cx.get(&keys::estimate(t, &eid)).await?.ok_or(stale)?;
                let e = e.view(cx.now().date());
                if u64::from(e.revision) != link.document_version
                    || (link.purpose == LinkPurpose::Approve && e.status != EstimateStatus::Sent)
                {
                    return Err(Stop::Refused(Refusal::Stale));
                }
                Document::Estimate(e)
            }
            DocumentKind::Invoice => {
                let iid = InvoiceId::parse(&link.document_id)
                    .map_err(|_| Stop::Error(ApiError::Internal))?;
                let i: Invoice = cx.get(&keys::invoice(t, &iid)).await?.ok_or(stale)?;
                if i.status != InvoiceStatus::Issued || i.number != Some(link.document_version) {
                    return Err(Stop::Refused(Refusal::Stale));
                }
                Document::Invoice(i.view(cx.now().date()))
            }
            DocumentKind::Customer => {
                let cid = CustomerId::parse(&link.document_id)
                    .map_err(|_| Stop::Error(ApiError::Internal))?;
                let c: Customer = cx.get(&keys::customer(t, &cid)).await?.ok_or(stale)?;
                Document::Customer(c)
            }
        };
        Ok(Opened { link, document })
    }

    /// Record a refused link in the link's tenant (best effort: the answer is the neutral
    /// page either way). `unrecorded` is how many refusals of the same kind were counted
    /// but not recorded since the last such record ([`RefusalTally`]).
    pub async fn record_refusal<S: TenantStore>(
        cx: &Ctx<'_, S>,
        id: &str,
        why: Refusal,
        unrecorded: u64,
    ) {
        let short: String = id.chars().take(16).collect();
        let counted = serde_json::json!({ "refusals_not_recorded_before": unrecorded });
        let record = cx.record(
            Action::PortalRefused,
            &format!("link/{short}"),
            Outcome::Denied,
            Some(why.as_str().into()),
            None,
            Some(&counted),
        );
        if let Err(e) = cx.store.append_audit(&record).await {
            tracing::warn!(error = %e, "recording a refused link");
        }
    }
}

/// Refused links are recorded at most once a minute per tenant and subject (one link, or
/// "unknown" for every token that names no link), so a flood of tokens writes a record a
/// minute, not one per request, and cannot bury other events. The first refusal of a minute
/// is recorded, carrying how many refusals of its subject were counted but not recorded
/// since the previous record. Memory is bounded (a full memory starts over, which can only
/// add a record).
pub struct RefusalTally {
    windows: crate::remembered::Remembered<(crate::ids::TenantId, String), (i64, u64)>,
}

impl RefusalTally {
    pub fn new(bound: usize) -> Self {
        Self {
            windows: crate::remembered::Remembered::new(bound),
        }
    }

    /// Count one refusal at `now`: `Some(n)` when it is to be recorded (`n` refusals were
    /// counted and not recorded since the last record), `None` when only counted.
    pub fn count(
        &self,
        tenant: &crate::ids::TenantId,
        subject: &str,
        now: time::OffsetDateTime,
    ) -> Option<u64> {
        let minute = now.unix_timestamp().div_euclid(60);
        let key = (tenant.clone(), subject.to_owned());
        match self.windows.recall(&key) {
            Some((m, unrecorded)) if m == minute => {
                self.windows
                    .remember(key, (m, unrecorded.saturating_add(1)));
                None
            }
            Some((_, unrecorded)) => {
                self.windows.remember(key, (minute, 0));
                Some(unrecorded)
            }
            None => {
                self.windows.remember(key, (minute, 0));
                Some(0)
            }
        }
    }

    /// How many (tenant, subject) windows are held.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

#[cfg(test)]
mod tally_tests {
    use super::RefusalTally;
    use crate::ids::TenantId;
    use time::OffsetDateTime;

    #[test]
    fn refusals_are_recorded_once_a_minute_per_subject_with_the_count_and_memory_is_bounded() {
        let tally = RefusalTally::new(8);
        let t = TenantId::parse("acme").expect("tenant");
        let other = TenantId::parse("other").expect("tenant");
        // A whole minute (1_800_000_000 is a multiple of 60).
        let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        assert_eq!(tally.count(&t, "unknown", start), Some(0));
        for s in 1..500 {
            let at = start + time::Duration::milliseconds(s * 100);
            assert_eq!(tally.count(&t, "unknown", at), None, "refusal {s}");
        }
        // Another subject and another tenant are recorded on their own.
        assert_eq!(tally.count(&t, "link-1", start), Some(0));
        assert_eq!(tally.count(&other, "unknown", start), Some(0));
        // The next minute's first refusal is recorded with the 499 counted meanwhile.
        let next = start + time::Duration::seconds(60);
        assert_eq!(tally.count(&t, "unknown", next), Some(499));
        assert_eq!(tally.count(&t, "unknown", next), None);
        for i in 0..100 {
            tally.count(&t, &format!("link-{i}"), start);
            assert!(tally.len() <= 8);
        }
    }
}
