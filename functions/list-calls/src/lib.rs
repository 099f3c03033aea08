//! `GET /customers/{id}/calls`: a customer's calls with their recording and transcript
//! evidence ids (owner, admin, dispatcher), paged.
use fieldvault_aws::app::{page_limit, path_param, query_param, Reply};
use fieldvault_core::calls::store::list_for_customer;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(list_calls_http);

async fn list_calls_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let customer = path_param(req, "id").unwrap_or_default();
    let cursor = query_param(req, "cursor");
    Reply::ok(&list_for_customer(cx, &customer, page_limit(req)?, cursor.as_deref()).await?)
}
