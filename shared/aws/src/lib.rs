//! Fieldvault's adapters: the tenant session (STS), the DynamoDB store, the local policy
//! guard, and the Lambda request path every function shares.
pub mod app;
pub mod attrs;
pub mod bounds;
pub mod dynamo;
pub mod fields;
pub mod guard;
pub mod metrics;
pub mod mfa;
pub mod objects;
pub mod onboarding;
pub mod payments;
pub mod portal;
pub mod session;
pub mod settings;

pub use app::{App, Exchange, Reply};

/// Make aws-lc-rs the process's TLS crypto provider (reqwest's rustls takes the process
/// default; the AWS SDK's client uses aws-lc-rs too, so the binary carries one TLS stack).
/// Call before building any HTTP client; calling again is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The entry point module functions' `main.rs` use.
pub mod lambda {
    pub use crate::app::serve;
}
