//! Fieldvault's pure core: domain types, authorization, audit records, key schema and
//! the IAM policy evaluator used by the local guard. Knows no AWS SDK types.
pub mod actions;
pub mod audit;
pub mod authz;
pub mod caller;
pub mod confirm;
pub mod credit_note;
pub mod cursor;
pub mod customer;
pub mod estimate;
pub mod hr;
pub mod iam;
pub mod idempotency;
pub mod ids;
pub mod intake;
pub mod invoice;
pub mod job;
pub mod keys;
pub mod ledger;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod mfa;
pub mod money;
pub mod payment;
pub mod problem;
pub mod request;
pub mod routes;
pub mod sealed;
pub mod store;
pub mod task;
pub mod template;
pub mod user;
pub mod user_admin;
pub mod webhook;
