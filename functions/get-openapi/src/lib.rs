//! `GET /openapi.json`: the API description, generated from the route list and the types.
use fieldvault_aws::app::{respond, App, Reply};
use lambda_http::{Body, Request, Response};

/// No token needed: the document describes the API, it holds no tenant data.
pub async fn handle(_app: &App, req: Request) -> Response<Body> {
    respond(&req, Reply::ok(&fieldvault_core::routes::openapi()))
}
