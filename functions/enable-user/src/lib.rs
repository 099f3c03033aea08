//! `POST /users/{id}/enable`: enable a disabled user (owners and admins; only owners enable
//! owners). Needs a `user_management` step-up and two phases. Sign-ins revoked earlier stay
//! revoked: the user signs in again.
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use fieldvault_core::user::{ConfirmUserChange, UserChange};
use fieldvault_core::user_admin::{change, Outcome, UserDirectory};
use lambda_http::Request;

fieldvault_aws::handler!(enable_user_http, with_directory);

async fn enable_user_http<S: TenantStore, D: UserDirectory>(
    cx: &Ctx<'_, S>,
    req: &Request,
    directory: &D,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let input: ConfirmUserChange = json_body(req)?;
    let route = format!("{} {}", req.method(), req.uri().path());
    let outcome = change(
        cx,
        directory,
        &route,
        &id,
        UserChange::Enable,
        input.confirmation_id.as_deref(),
    )
    .await?;
    match outcome {
        Outcome::Prepared(c) => Reply::accepted(&c),
        Outcome::Done(profile) => Reply::ok(&profile),
    }
}
