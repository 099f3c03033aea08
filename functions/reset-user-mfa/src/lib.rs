//! `POST /users/{id}/mfa/reset`: remove a user's authenticator (lost or compromised) and the
//! step-up proofs they hold, so that they enroll afresh, which as a first enrollment needs a
//! sign-in from the last 5 minutes. Owners and admins (only owners reset owners; never
//! oneself: one's own authenticator is replaced with a step-up with it). Needs a
//! `user_management` step-up and two phases, bound to that exact enrollment; audited.
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use fieldvault_core::user::ConfirmUserChange;
use fieldvault_core::user_admin::{reset_mfa, Outcome};
use lambda_http::Request;

fieldvault_aws::handler!(reset_user_mfa_http);

async fn reset_user_mfa_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let input: ConfirmUserChange = json_body(req)?;
    let route = format!("{} {}", req.method(), req.uri().path());
    match reset_mfa(cx, &route, &id, input.confirmation_id.as_deref()).await? {
        Outcome::Prepared(c) => Reply::accepted(&c),
        Outcome::Done(reset) => Reply::ok(&reset),
    }
}
