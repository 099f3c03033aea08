//! The customer portal's adapter side: the link principal's tenant session, issuing links
//! (their token sealed with KMS in the outbox), and HTML responses with the portal's headers.
use fieldvault_core::caller::{Caller, Role};
use fieldvault_core::customer::{ContactKind, Customer};
use fieldvault_core::ids::{TenantId, UserId};
use fieldvault_core::link::{
    new_token, DocumentKind, IssuedLink, Link, LinkPurpose, OutboxMessage, Refusal,
};
use fieldvault_core::portal::flow::{record_refusal, Stop};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::sealed::{FieldCipher, FieldContext};
use fieldvault_core::store::{TenantStore, Write};
use lambda_http::{Body, Request, Response};

use crate::app::{App, Exchange};
use crate::session::TenantSession;

impl App {
    /// A customer holding link `link_id` of `tenant`: the link is looked up first, with the
    /// portal's own role (which may only read link records), and only a link that exists
    /// opens a session. A token that names no link costs that one read: no session, and a
    /// record only in a tenant this container knows exists (one of its links was found
    /// here), at most once a minute ([`App::refuse_link`]).
    pub async fn begin_link(
        &self,
        req: &Request,
        tenant: TenantId,
        link_id: &str,
    ) -> Result<Exchange, Stop> {
        if self.find_link(&tenant, link_id).await?.is_none() {
            if self.known_tenants.recall(&tenant).is_some() {
                // The tally first: a session is opened only for the record it allows (at
                // most one a minute), so a flood of tokens costs no session lookups.
                let now = time::OffsetDateTime::now_utc();
                if let Some(unrecorded) = self.refusals.count(&tenant, "unknown", now) {
                    if let Ok(exchange) = self.begin_as_customer(req, tenant, link_id).await {
                        let cx = self.ctx(&exchange, None);
                        record_refusal(&cx, link_id, Refusal::Unknown, unrecorded).await;
                    }
                }
            } else {
                tracing::info!("portal: a token that names no link, in a tenant not known here");
            }
            return Err(Stop::Refused(Refusal::Unknown));
        }
        self.known_tenants.remember(tenant.clone(), ());
        Ok(self.begin_as_customer(req, tenant, link_id).await?)
    }

    /// The link record `link_id` of `tenant`, read with the function's own role.
    async fn find_link(&self, tenant: &TenantId, link_id: &str) -> Result<Option<Link>, ApiError> {
        let client = self.sessions.own_dynamodb().map_err(|e| {
            tracing::error!(error = %e, "link lookup client");
            ApiError::Unavailable(e.to_string())
        })?;
        let settings = self.sessions.settings();
        let store = crate::dynamo::DynamoStore::new(
            client,
            tenant.clone(),
            settings.data_table.clone(),
            settings.audit_table.clone(),
        );
        store
            .get_record::<Link>(&fieldvault_core::keys::link(tenant, link_id))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "link lookup");
                fieldvault_core::request::store_error(e)
            })
    }

    /// Record a refused link, at most once a minute per tenant and link (tokens that name no
    /// link count together), with how many went unrecorded since the last record.
    pub async fn refuse_link<S: TenantStore>(&self, cx: &Ctx<'_, S>, link_id: &str, why: Refusal) {
        let subject = if why == Refusal::Unknown {
            "unknown"
        } else {
            link_id
        };
        if let Some(unrecorded) = self.refusals.count(&cx.caller.tenant, subject, cx.now()) {
            record_refusal(cx, link_id, why, unrecorded).await;
        }
    }

    /// A customer holding link `link_id` of `tenant`: the caller is the link (a role no
    /// token can carry, which the policy confines to the portal's actions), on the tenant's
    /// one portal session.
    pub async fn begin_as_customer(
        &self,
        req: &Request,
        tenant: TenantId,
        link_id: &str,
    ) -> Result<Exchange, ApiError> {
        let short: String = link_id.chars().take(16).collect();
        let caller = Caller {
            tenant,
            user: UserId::parse(&format!("link-{short}")).map_err(|_| ApiError::Internal)?,
            role: Role::Customer,
            username: "customer (link)".into(),
            sign_in_id: None,
            signed_in_at: None,
            auth_time: None,
        };
        let portal =
            UserId::parse(crate::session::PORTAL_SESSION_USER).map_err(|_| ApiError::Internal)?;
        let session = self
            .sessions
            .session(&caller.tenant, Role::Customer, &portal)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "tenant session");
                ApiError::Unavailable(e.to_string())
            })?;
        Ok(App::exchange_with(req, caller, session))
    }

    /// The public base URL links point at, or 503.
    pub fn public_url(&self) -> Result<&str, ApiError> {
        self.sessions
            .settings()
            .public_url
            .as_deref()
            .ok_or_else(|| ApiError::Unavailable("no public URL is configured for links".into()))
    }
}

/// What a new link is for.
pub struct LinkRequest<'a> {
    pub purpose: LinkPurpose,
    pub kind: DocumentKind,
    pub document_id: String,
    pub document_version: u64,
    pub customer: &'a Customer,
    pub subject: String,
}

/// A new link and its outbox message (the URL sealed with KMS under the tenant's context):
/// the writes join the caller's transaction; the token exists only in the answer and, sealed,
/// in the outbox.
pub async fn issue_link<S: TenantStore>(
    cx: &Ctx<'_, S>,
    app: &App,
    session: &TenantSession,
    request: LinkRequest<'_>,
) -> Result<(IssuedLink, Vec<Write>), ApiError> {
    let base = app.public_url()?;
    let (token, id) = new_token(&cx.caller.tenant, rand::random::<[u8; 32]>());
    let link = Link::new(
        id,
        &cx.caller.tenant,
        request.purpose,
        request.kind,
        request.document_id,
        request.document_version,
        request.customer.id,
        cx.caller.user.as_str(),
        cx.now(),
        &app.sessions.settings().link_ttls,
    );
    let issued = link.issued(&token, base);
    let message_id = ulid::Ulid::new().to_string();
    let context = FieldContext::new(&cx.caller.tenant, "outbox", &format!("outbox/{message_id}"))
        .map_err(|_| ApiError::Internal)?;
    let sealed = session
        .fields()
        .seal(&context, issued.url.as_bytes())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let sealed = serde_json::to_string(&sealed).map_err(|_| ApiError::Internal)?;
    let to = request
        .customer
        .contact_points
        .iter()
        .find(|c| c.kind == ContactKind::Email)
        .map(|c| c.value.clone());
    let message = OutboxMessage {
        id: message_id,
        tenant_id: cx.caller.tenant.clone(),
        customer_id: request.customer.id,
        channel: if to.is_some() { "email" } else { "manual" }.into(),
        to: to.unwrap_or_default(),
        subject: request.subject,
        sealed_link: sealed,
        link_id: link.id.clone(),
        status: "pending".into(),
        created_at: cx.now(),
        created_by: cx.caller.user.clone(),
    };
    Ok((issued, vec![link.write(None), message.write()]))
}

/// An HTML page with the portal's headers: the API's security headers, then a page CSP (a
/// style nonce, forms to `form_origin` too), no referrer, no indexing, no caching.
pub fn html(status: u16, body: String, csp: &str) -> Response<Body> {
    let Ok(csp) = http::HeaderValue::from_str(csp) else {
        // Only reachable with an unprintable form origin: still answer, never panic.
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        return r;
    };
    // The API's headers, its CSP replaced by the page's.
    let mut r = crate::app::with_headers(status, "text/html; charset=utf-8", body);
    let headers = r.headers_mut();
    headers.insert(http::header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(
        "x-robots-tag",
        http::HeaderValue::from_static("noindex, nofollow"),
    );
    r
}

/// A 303 to `location` (after a form post), with the same headers.
pub fn see_other(location: &str, csp: &str) -> Response<Body> {
    let mut r = html(303, String::new(), csp);
    if let Ok(v) = http::HeaderValue::from_str(location) {
        r.headers_mut().insert(http::header::LOCATION, v);
    }
    r
}

/// A fresh style nonce (128 random bits).
pub fn nonce() -> String {
    rand::random::<[u8; 16]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The payment provider's origin (its checkout page receives the pay form's redirect).
pub fn provider_origin(app: &App) -> Option<String> {
    let url = &app.payments.as_ref()?.settings().api_url;
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    Some(format!("{scheme}://{host}"))
}

/// A sign-in link opens once: it is consumed, and each of the customer's open documents (sent
/// estimates, issued invoices that still owe) gets a fresh link that lives as long as a
/// sign-in link, all in one audited transaction. Answers (label, url) per document.
pub async fn issue_portal_documents<S: TenantStore>(
    cx: &Ctx<'_, S>,
    app: &App,
    _session: &TenantSession,
    sign_in: &Link,
    customer: &Customer,
) -> Result<Vec<(String, String)>, ApiError> {
    use fieldvault_core::estimate::{Estimate, EstimateStatus};
    use fieldvault_core::invoice::{Invoice, InvoiceStatus};
    let base = app.public_url()?;
    let t = &cx.caller.tenant;
    let page = cx
        .store
        .list(&fieldvault_core::store::ListQuery {
            index: true,
            partition: fieldvault_core::keys::customer_billing_partition(t, &customer.id),
            limit: 100,
            start: None,
            newest_first: true,
        })
        .await
        .map_err(fieldvault_core::request::store_error)?;
    let ttls = &app.sessions.settings().link_ttls;
    let short = fieldvault_core::link::LinkTtls {
        document: ttls.sign_in,
        sign_in: ttls.sign_in,
    };
    let today = cx.now().date();
    let mut writes = vec![sign_in.consume(cx.now()).write(Some(sign_in.version))];
    let mut entries = Vec::new();
    for item in &page.items {
        let (purpose, kind, id, version, label) = if let Some(e) = Estimate::from_item(item) {
            let e = e.view(today);
            if e.status != EstimateStatus::Sent {
                continue;
            }
            (
                LinkPurpose::Approve,
                DocumentKind::Estimate,
                e.id.to_string(),
                u64::from(e.revision),
                format!("Estimate: {}", e.title),
            )
        } else if let Some(i) = Invoice::from_item(item) {
            if i.status != InvoiceStatus::Issued {
                continue;
            }
            (
                LinkPurpose::Pay,
                DocumentKind::Invoice,
                i.id.to_string(),
                i.number.unwrap_or_default(),
                format!("Invoice #{}", i.number.unwrap_or_default()),
            )
        } else {
            continue;
        };
        let (token, link_id) = new_token(t, rand::random::<[u8; 32]>());
        let link = Link::new(
            link_id,
            t,
            purpose,
            kind,
            id,
            version,
            customer.id,
            cx.caller.user.as_str(),
            cx.now(),
            &short,
        );
        entries.push((label, link.issued(&token, base).url));
        writes.push(link.write(None));
        if writes.len() >= 90 {
            break;
        }
    }
    let what = serde_json::json!({ "customer": customer.id, "documents": entries.len() });
    cx.commit(
        fieldvault_core::actions::Action::PortalSignIn,
        &format!("customer/{}", customer.id),
        writes,
        None,
        Some(&what),
    )
    .await
    .map_err(|e| match e {
        fieldvault_core::store::StoreError::ConditionFailed { .. } => {
            ApiError::Conflict("this sign-in link was just used".into())
        }
        other => fieldvault_core::request::store_error(other),
    })?;
    Ok(entries)
}
