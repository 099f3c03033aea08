//! Local IAM emulation for the policy guard.
//!
//! DynamoDB Local and moto do not enforce IAM, so a tenant-isolation bug in a role
//! policy (or in code relying on it) would only surface in AWS. The local guard sits in
//! front of the SDK HTTP client of a tenant session and, for every outgoing request,
//! asks this module what IAM would decide:
//!
//! 1. [`requests`] turns a raw serialized AWS HTTP request (DynamoDB JSON 1.0, KMS JSON
//!    1.1, S3 REST path-style) into the [`AuthzRequest`]s IAM would evaluate;
//! 2. [`policy`] evaluates them against the role's identity policy document and the
//!    session's principal tags.
//!
//! Both halves are pure (no I/O, no SDK types) so they can be tested exhaustively.
//! A guard must treat the call as allowed only if *every* extracted request is allowed
//! (see [`PolicyDocument::evaluate_all`]) and must deny on any extraction error.

pub mod assume;
mod body;
pub mod policy;
pub mod requests;

#[cfg(test)]
pub(crate) mod testdata;

pub use assume::{assume_role_requests, AssumeRoleCheck};
pub use policy::{AuthzRequest, Decision, PolicyDocument, PolicyError};
pub use requests::{dynamodb_requests, kms_requests, s3_requests, ExtractError, ResourceNames};
