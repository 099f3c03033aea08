//! `GET /portal/l/{token}` (public): the customer's page for one link: an estimate with its
//! options and the approve/decline forms, an invoice with its balance and a pay button (and a
//! receipt once paid), or, from a sign-in link, all the customer's open documents. Every view
//! is recorded before the page is shown; every refused link (unknown, expired, used, revoked,
//! stale) gets the same neutral page and is recorded too.
use fieldvault_aws::app::path_param;
use fieldvault_aws::portal::{html, issue_portal_documents, nonce, provider_origin};
use fieldvault_aws::App;
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::link::{parse_token, LinkPurpose};
use fieldvault_core::portal::flow::{open, Document, Stop};
use fieldvault_core::portal::{self, csp};
use fieldvault_core::request::store_error;
use lambda_http::{Body, Request, Response};

/// The Lambda handler (also served by the local gateway).
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let nonce = nonce();
    let policy = csp(&nonce, provider_origin(app).as_deref());
    // The token is never logged: only the outcome is.
    let token = path_param(&req, "token").unwrap_or_default();
    match page(app, &req, &token, &nonce).await {
        Ok(body) => html(200, body, &policy),
        Err(Stop::Refused(_)) => html(404, portal::neutral(&nonce), &policy),
        Err(Stop::Error(e)) => {
            tracing::warn!(error = %e, "portal page failed");
            let status = e.status().as_u16();
            let body = portal::message(
                "Please try again",
                "We could not show this page just now. Please try again in a moment.",
                &nonce,
            );
            html(status, body, &policy)
        }
    }
}

async fn page(app: &App, req: &Request, token: &str, nonce: &str) -> Result<String, Stop> {
    let Some((tenant, id)) = parse_token(token) else {
        tracing::info!("portal: malformed link");
        return Err(Stop::Refused(fieldvault_core::link::Refusal::Unknown));
    };
    let exchange = app.begin_link(req, tenant.clone(), &id).await?;
    let cx = app.ctx(&exchange, None);
    let opened = match open(&cx, &id).await {
        Ok(o) => o,
        Err(Stop::Refused(why)) => {
            app.refuse_link(&cx, &id, why).await;
            return Err(Stop::Refused(why));
        }
        Err(e) => return Err(e),
    };
    let action = if opened.link.purpose == LinkPurpose::SignIn {
        Action::PortalSignIn
    } else {
        Action::PortalView
    };
    cx.authorize(action, &Resource::Tenant(tenant)).await?;
    let here = format!("/portal/l/{token}");
    match &opened.document {
        Document::Estimate(e) => {
            record_view(&cx, action, &opened, None).await?;
            let decidable = opened.link.purpose == LinkPurpose::Approve;
            Ok(portal::estimate(e, decidable, &here, nonce))
        }
        Document::Invoice(i) => {
            record_view(&cx, action, &opened, None).await?;
            let payable = matches!(opened.link.purpose, LinkPurpose::Pay) && app.payments.is_some();
            Ok(portal::invoice(i, payable, &here, nonce))
        }
        Document::Customer(c) => {
            // A sign-in link is used once: its documents each get a fresh short-lived link.
            let entries =
                issue_portal_documents(&cx, app, &exchange.session, &opened.link, c).await?;
            Ok(portal::documents(&c.name, &entries, nonce))
        }
    }
}

async fn record_view<S: fieldvault_core::store::TenantStore>(
    cx: &fieldvault_core::request::Ctx<'_, S>,
    action: Action,
    opened: &fieldvault_core::portal::flow::Opened,
    extra: Option<&serde_json::Value>,
) -> Result<(), Stop> {
    let what = serde_json::json!({
        "document": opened.link.document_id,
        "kind": opened.link.document_kind,
        "purpose": opened.link.purpose,
        "extra": extra,
    });
    cx.commit(
        action,
        &format!(
            "link/{}",
            opened.link.id.chars().take(16).collect::<String>()
        ),
        Vec::new(),
        None,
        Some(&what),
    )
    .await
    .map_err(|e| Stop::Error(store_error(e)))
}
