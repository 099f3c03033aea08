//! Local tooling: provisioning the local stack from `template.yaml`, and a local API gateway
//! that serves the template's routes with a Cognito JWT authorizer in front of the same
//! handlers the Lambda binaries run.
pub mod gateway;
pub mod http;
pub mod jwt;
pub mod provision;
pub mod registry;
pub mod runtime_api;
pub mod sandbox;
