//! `POST /users/{id}/disable`: disable a user (owners and admins; only owners disable owners;
//! never oneself). Needs a `user_management` step-up and two phases. The access record
//! changes first (the user's tokens are refused on their next request), then Cognito disables
//! the user and ends every sign-in.
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use fieldvault_core::user::{ConfirmUserChange, UserChange};
use fieldvault_core::user_admin::{change, Outcome, UserDirectory};
use lambda_http::Request;

fieldvault_aws::handler!(disable_user_http, with_directory);

async fn disable_user_http<S: TenantStore, D: UserDirectory>(
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
        UserChange::Disable,
        input.confirmation_id.as_deref(),
    )
    .await?;
    match outcome {
        Outcome::Prepared(c) => Reply::accepted(&c),
        Outcome::Done(profile) => Reply::ok(&profile),
    }
}
