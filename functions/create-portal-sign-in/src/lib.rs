//! `POST /customers/{id}/portal-link`: a magic sign-in link for the customer (single use,
//! 30 minutes by default) that opens a page with all their open documents, each behind its
//! own fresh short-lived link. Recorded in the outbox with the link sealed by KMS.
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_aws::portal::{issue_link, LinkRequest};
use fieldvault_aws::App;
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::customer::Customer;
use fieldvault_core::ids::CustomerId;
use fieldvault_core::keys;
use fieldvault_core::link::{DocumentKind, LinkPurpose};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(create_portal_sign_in_http, with_app);

async fn create_portal_sign_in_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
    app: &App,
) -> Result<Reply, ApiError> {
    let raw = path_param(req, "id").unwrap_or_default();
    cx.authorize(
        Action::CreatePortalSignIn,
        &Resource::Tenant(cx.caller.tenant.clone()),
    )
    .await?;
    let id = CustomerId::parse(&raw).map_err(|_| ApiError::NotFound)?;
    let customer: Customer = cx
        .get(&keys::customer(&cx.caller.tenant, &id))
        .await?
        .ok_or(ApiError::NotFound)?;
    let session = app.session_for(cx.caller).await?;
    let (link, writes) = issue_link(
        cx,
        app,
        &session,
        LinkRequest {
            purpose: LinkPurpose::SignIn,
            kind: DocumentKind::Customer,
            document_id: customer.id.to_string(),
            document_version: 0,
            customer: &customer,
            subject: "Your documents".into(),
        },
    )
    .await?;
    let after = serde_json::json!({ "link_id": link.link_id, "purpose": link.purpose, "expires_at": link.expires_at });
    cx.commit(
        Action::CreatePortalSignIn,
        &format!("customer/{}", customer.id),
        writes,
        None,
        Some(&after),
    )
    .await
    .map_err(store_error)?;
    Reply::created(&link)
}
