//! Fieldvault's adapters: the tenant session (STS), the DynamoDB store, the local policy
//! guard, and the Lambda request path every function shares.
pub mod app;
pub mod dynamo;
pub mod guard;
pub mod metrics;
pub mod mfa;
pub mod onboarding;
pub mod session;
pub mod settings;

pub use app::{App, Exchange, Reply};

/// The entry point module functions' `main.rs` use.
pub mod lambda {
    pub use crate::app::serve;
}
