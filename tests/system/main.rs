//! System tests: black-box through the local gateway, plus the security tests that go below
//! the handlers (policy guard, audit fail-closed). `infra/local/test.sh` starts the stack.
mod api;
mod audit;
mod bodies;
mod browser;
mod estimates;
mod evidence;
mod fields;
mod guard;
mod idempotency;
mod invoices;
mod jobs;
mod matrix;
mod mfa;
mod payments;
mod portal;
mod routes;
mod runtime;
mod security;
mod stall;
mod tasks;
mod tokens;
mod users;
