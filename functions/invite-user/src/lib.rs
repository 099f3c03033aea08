//! `POST /users`: invite a user into the caller's tenant with a role (owners and admins; only
//! owners invite owners). Needs a `user_management` step-up in this sign-in and two phases:
//! without `confirmation_id` it answers 202 with a summary and an id bound to exactly this
//! request; repeating it with the id creates the Cognito login (tenant set server-side), the
//! profile and access record (audited), then grants the tenant and role groups. Owners and
//! admins are told (`mfa_required`, `mfa_notice`) to enroll an authenticator first.
//! Honours `Idempotency-Key` (use a new key for the confirming call: its body differs).
use fieldvault_aws::app::{json_body, Reply};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use fieldvault_core::user::{InviteUser, Invited};
use fieldvault_core::user_admin::{invite, Outcome, UserDirectory};
use lambda_http::Request;

fieldvault_aws::handler!(invite_user_http, idempotent, with_directory);

async fn invite_user_http<S: TenantStore, D: UserDirectory>(
    cx: &Ctx<'_, S>,
    req: &Request,
    directory: &D,
) -> Result<Reply, ApiError> {
    let input: InviteUser = json_body(req)?;
    let route = format!("{} {}", req.method(), req.uri().path());
    match invite(cx, directory, &route, &input).await? {
        Outcome::Prepared(c) => Reply::accepted(&c),
        Outcome::Done(profile) => Reply::created(&Invited::new(profile)),
    }
}
