//! Lambda entry point: tracing, clients once, then the handler for every event.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    fieldvault_aws::lambda::serve(fv_reset_user_mfa::handle).await
}
