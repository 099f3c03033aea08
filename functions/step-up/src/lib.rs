//! `POST /me/mfa/step-up`: verify an authenticator code and grant a proof, bound to this
//! sign-in and one action class, valid for 5 minutes. Every attempt is audited.
use fieldvault_aws::app::{json_body, Reply};
use fieldvault_aws::session::TenantSession;
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::mfa::{StepUpInput, StepUpProof, PROOF_VALID_FOR};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(step_up_http, with_session);

async fn step_up_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
    session: &TenantSession,
) -> Result<Reply, ApiError> {
    let c = cx.caller;
    cx.authorize(
        Action::StepUp,
        &Resource::User(c.tenant.clone(), c.user.clone()),
    )
    .await?;
    let input: StepUpInput = json_body(req)?;
    let sign_in = c.sign_in_id.clone().ok_or_else(|| {
        ApiError::Unauthenticated("this token names no sign-in to bind a step-up to".into())
    })?;
    let (_, mut writes) =
        fieldvault_aws::mfa::attempt(cx, session, &input.code, Action::StepUp, true).await?;
    let proof = StepUpProof {
        action_class: input.action_class,
        sign_in_id: sign_in,
        expires_at: cx.now() + PROOF_VALID_FOR,
    };
    writes.push(proof.write(&c.tenant, &c.user));
    let after = serde_json::json!({ "action_class": input.action_class, "expires_at": proof.expires_at.unix_timestamp() });
    cx.commit(
        Action::StepUp,
        &format!("user/{}", c.user),
        writes,
        None,
        Some(&after),
    )
    .await
    .map_err(store_error)?;
    Reply::ok(&proof)
}
