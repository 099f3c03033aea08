//! `PATCH /users/{id}/role`: change a user's role (owners and admins; only owners make or
//! change owners; never one's own). Needs a `user_management` step-up and two phases (like
//! voiding an invoice). The access record changes first, so the user's existing tokens are
//! refused on their next request; then the Cognito groups change and every sign-in ends.
use fieldvault_aws::app::{json_body, path_param, Reply};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use fieldvault_core::user::{ChangeRole, UserChange};
use fieldvault_core::user_admin::{change, Outcome, UserDirectory};
use lambda_http::Request;

fieldvault_aws::handler!(change_user_role_http, with_directory);

async fn change_user_role_http<S: TenantStore, D: UserDirectory>(
    cx: &Ctx<'_, S>,
    req: &Request,
    directory: &D,
) -> Result<Reply, ApiError> {
    let id = path_param(req, "id").unwrap_or_default();
    let input: ChangeRole = json_body(req)?;
    let route = format!("{} {}", req.method(), req.uri().path());
    let outcome = change(
        cx,
        directory,
        &route,
        &id,
        UserChange::Role(input.role),
        input.confirmation_id.as_deref(),
    )
    .await?;
    match outcome {
        Outcome::Prepared(c) => Reply::accepted(&c),
        Outcome::Done(profile) => Reply::ok(&profile),
    }
}
