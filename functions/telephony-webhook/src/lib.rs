//! `POST /webhooks/telephony?tenant=…&tenant_token=…` (public: the telephony provider calls
//! it). Accepted only when the URL's tenant token and the signature both verify with a
//! configured secret (several during a rotation); the signature covers the URL's tenant and
//! the raw body (`"<t>.<tenant>.<body>"`), so a delivery signed for one tenant is refused at
//! another's URL. A refusal is a 400 and records nothing.
//! Then, inside that tenant, as the telephony provider (a principal no token can carry):
//! a completed call creates or links the lead and customer (the intake rules) and answers a
//! presigned PUT for its recording; a transcript is stored with its call. Each event takes
//! effect once (an event marker in its transaction; a call is recorded once per call id).
use fieldvault_aws::app::{query_param, respond, Reply};
use fieldvault_aws::App;
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::calls::{
    store::receive, verify_tenant_token, TelephonyEvent, SIGNATURE_HEADER, TENANT_PARAM,
    TENANT_TOKEN_PARAM,
};
use fieldvault_core::ids::TenantId;
use fieldvault_core::problem::{parse_json, ApiError};
use fieldvault_core::webhook::verify_scoped;
use lambda_http::{Body, Request, Response};

/// The Lambda handler (also served by the local gateway).
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let result = receive_event(app, &req).await;
    respond(&req, result)
}

fn refused(e: fieldvault_core::webhook::WebhookError) -> ApiError {
    // No tenant is trusted before both checks hold: the refusal is logged, not audited.
    tracing::warn!(error = %e, "telephony webhook refused");
    ApiError::bad_request(format!("webhook refused: {e}"))
}

/// The tenant and the event, if the URL's tenant token and the body's signature hold.
pub fn verified(
    req: &Request,
    secrets: &[Vec<u8>],
    now_unix: i64,
) -> Result<(TenantId, TelephonyEvent), ApiError> {
    let tenant = query_param(req, TENANT_PARAM)
        .and_then(|raw| TenantId::parse(&raw).ok())
        .ok_or_else(|| ApiError::bad_request("webhook refused: the URL names no tenant"))?;
    verify_tenant_token(
        &tenant,
        query_param(req, TENANT_TOKEN_PARAM).as_deref(),
        secrets,
    )
    .map_err(refused)?;
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let raw = req.body().as_ref();
    verify_scoped(signature, Some(tenant.as_str()), raw, secrets, now_unix).map_err(refused)?;
    let event: TelephonyEvent = parse_json(Some("application/json"), raw)
        .map_err(|_| ApiError::bad_request("the event is malformed"))?;
    Ok((tenant, event))
}

async fn receive_event(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let secrets = app.telephony_secrets()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (tenant, event) = verified(req, secrets, now)?;
    let exchange = app.begin_as_telephony(req, tenant.clone()).await?;
    let cx = app.ctx(&exchange, None);
    cx.authorize(Action::ReceiveCall, &Resource::Tenant(tenant))
        .await?;
    let objects = exchange.session.objects()?;
    Reply::ok(&receive(&cx, &objects, &event).await?)
}
