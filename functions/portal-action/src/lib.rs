//! `POST /portal/l/{token}` (public, a form): what a customer does through a link. `approve`
//! (an option, the typed full name as signature, the consent box) and `decline` decide a sent
//! estimate once: the decision, its evidence (ip, user agent, time, the snapshot hash of what
//! was approved) and the link's use commit in one audited transaction. `pay` opens the payment
//! provider's checkout for the invoice's balance and sends the customer there; the provider's
//! signed webhook records the payment, and the checkout returns to this link's page, which
//! then shows the receipt.
use fieldvault_aws::app::path_param;
use fieldvault_aws::portal::{html, nonce, provider_origin, see_other};
use fieldvault_aws::App;
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::estimate::{ApproveEstimate, DeclineEstimate, Estimate, PortalEvidence};
use fieldvault_core::ids::OptionId;
use fieldvault_core::link::{parse_token, LinkPurpose, Refusal};
use fieldvault_core::payment::store::start_checkout;
use fieldvault_core::portal::flow::{open, Document, Opened, Stop};
use fieldvault_core::portal::{self, csp};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

#[derive(Deserialize)]
struct Form {
    action: String,
    #[serde(default)]
    option_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    consent: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

enum Outcome {
    Page(String),
    Redirect(String),
}

/// The Lambda handler (also served by the local gateway).
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let nonce = nonce();
    let policy = csp(&nonce, provider_origin(app).as_deref());
    let token = path_param(&req, "token").unwrap_or_default();
    match act(app, &req, &token, &nonce).await {
        Ok(Outcome::Page(body)) => html(200, body, &policy),
        Ok(Outcome::Redirect(to)) => see_other(&to, &policy),
        Err(Stop::Refused(_)) => html(404, portal::neutral(&nonce), &policy),
        Err(Stop::Error(e)) => {
            tracing::info!(error = %e, "portal action refused");
            let status = e.status().as_u16();
            let text = match &e {
                ApiError::BadRequest { .. } => {
                    "Please check the form: choose an option, type your full name and tick the consent box."
                }
                ApiError::Conflict(_) => "This document changed meanwhile. Please open your link again.",
                _ => "We could not do this just now. Please try again in a moment.",
            };
            html(status, portal::message("Not done", text, &nonce), &policy)
        }
    }
}

async fn act(app: &App, req: &Request, token: &str, nonce: &str) -> Result<Outcome, Stop> {
    let Some((tenant, id)) = parse_token(token) else {
        return Err(Stop::Refused(Refusal::Unknown));
    };
    // Read as a form only when sent as one: the body checks every route passes first
    // (`bounds::refuse_body`) read it the same way.
    let is_form = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(Stop::Error(ApiError::UnsupportedMediaType));
    }
    let form: Form = serde_urlencoded::from_bytes(req.body().as_ref())
        .map_err(|_| Stop::Error(ApiError::bad_request("the form is malformed")))?;
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
    let here = format!("/portal/l/{token}");
    match (form.action.as_str(), &opened.document, opened.link.purpose) {
        ("approve" | "decline", Document::Estimate(e), LinkPurpose::Approve) => {
            let action = if form.action == "approve" {
                Action::PortalApprove
            } else {
                Action::PortalDecline
            };
            cx.authorize(action, &Resource::Tenant(tenant)).await?;
            let after = decide(&cx, &opened, e, &form, action).await?;
            Ok(Outcome::Page(portal::estimate(&after, false, &here, nonce)))
        }
        ("pay", Document::Invoice(i), LinkPurpose::Pay) => {
            cx.authorize(Action::PortalPay, &Resource::Tenant(tenant))
                .await?;
            let provider = app.payments()?;
            let back = format!("{}{here}", app.public_url()?);
            let started = start_checkout(&cx, provider, i, &back, Action::PortalPay).await?;
            Ok(Outcome::Redirect(started.checkout.url))
        }
        _ => Err(Stop::Error(ApiError::bad_request(
            "this link does not allow that",
        ))),
    }
}

/// Approve or decline the estimate, record the evidence, use the link: one transaction.
async fn decide<S: TenantStore>(
    cx: &Ctx<'_, S>,
    opened: &Opened,
    before: &Estimate,
    form: &Form,
    action: Action,
) -> Result<Estimate, Stop> {
    let mut after = if action == Action::PortalApprove {
        if form.consent.as_deref() != Some("yes") {
            return Err(Stop::Error(ApiError::invalid_field(
                "consent",
                "must be ticked",
            )));
        }
        let option_id = form
            .option_id
            .as_deref()
            .and_then(|o| OptionId::parse(o).ok())
            .ok_or_else(|| ApiError::invalid_field("option_id", "choose an option"))?;
        let input = ApproveEstimate {
            option_id,
            revision: before.revision,
            approved_by_name: form.name.clone().unwrap_or_default(),
        };
        before.approve(&input, &cx.caller.user, cx.now())?
    } else {
        let input = DeclineEstimate {
            reason: form.reason.clone().filter(|r| !r.trim().is_empty()),
        };
        before.decline(&input, &cx.caller.user, cx.now())?
    };
    if let Some(d) = after.decision.as_mut() {
        d.portal = Some(PortalEvidence {
            ip: cx.meta.source_ip.clone(),
            user_agent: cx.meta.user_agent.clone(),
            consent: action == Action::PortalApprove,
            link_id: opened.link.id.clone(),
        });
    }
    let mut writes = vec![
        after.write(Some(before.version)),
        opened
            .link
            .consume(cx.now())
            .write(Some(opened.link.version)),
    ];
    writes.extend(fieldvault_core::task::for_estimate(
        Some(before),
        &after,
        cx.now(),
    ));
    let resource = format!("estimate/{}", after.id);
    match cx
        .commit_change(action, &resource, writes, Some(before), &after, "estimate")
        .await
    {
        Ok(()) => Ok(after),
        // The link was used (or the estimate decided) by a concurrent request.
        Err(ApiError::Conflict(_)) => Err(Stop::Refused(Refusal::Used)),
        Err(e) => Err(Stop::Error(e)),
    }
}
