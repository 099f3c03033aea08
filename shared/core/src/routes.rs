//! The API's routes, in one list: the local gateway, the OpenAPI document and the template
//! check all read this, so a route cannot exist in one place and not the others.
use std::collections::BTreeMap;

use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::actions::Action;
use crate::audit::AuditRecord;
use crate::calls::{Call, CallReceipt};
use crate::credit_note::{CreditNote, NewCreditNote};
use crate::customer::{Customer, CustomerPatch, NewCustomer};
use crate::estimate::{ApproveEstimate, DeclineEstimate, Estimate, EstimateRevision, NewEstimate};
use crate::evidence::{Evidence, EvidenceDownload, EvidenceUpload, NewEvidence};
use crate::hr::{HrRecordInput, HrRecordView};
use crate::intake::IntakeInput;
use crate::invoice::{Invoice, InvoiceRevision, NewInvoice, VoidInvoice};
use crate::job::{ChangeJobStatus, Job, NewJob, NewVisit, VisitProgress, VisitUpdate};
use crate::ledger::Export;
use crate::link::{IssuedLink, Link};
use crate::mfa::{CodeInput, EnrollmentSecret, MfaReset, StepUpInput, StepUpProof};
use crate::payment::{CheckoutStarted, EventReceipt, NewRefund, Payment, RecordPayment};
use crate::problem::Problem;
use crate::task::{SnoozeTask, Task};
use crate::user::{ChangeRole, ConfirmUserChange, InviteUser, Invited, Me, UserProfile};

/// The schema of a request or response body.
pub type SchemaFn = fn(&mut SchemaGenerator) -> schemars::Schema;

pub struct Route {
    /// Logical id of the function in `template.yaml`.
    pub function: &'static str,
    /// Folder under `functions/`.
    pub crate_dir: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub action: Option<Action>,
    /// Behind the Cognito JWT authorizer.
    pub authenticated: bool,
    pub summary: &'static str,
    pub request: Option<SchemaFn>,
    pub success_status: u16,
    pub response: SchemaFn,
    pub query: &'static [(&'static str, &'static str)],
    /// Honours `Idempotency-Key` (creating POSTs).
    pub idempotent: bool,
}

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<T>()
}

/// A page of items with an opaque cursor to the next page.
#[derive(serde::Serialize, JsonSchema)]
#[schemars(rename = "PageOf{T}")]
pub struct PageOf<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What `POST /intake` answers.
#[derive(serde::Serialize, JsonSchema)]
pub struct IntakeResult {
    pub lead: crate::intake::Lead,
    pub customer: Customer,
    /// True when the contact matched an existing customer by phone or email.
    pub matched_existing_customer: bool,
    pub follow_up: crate::task::Task,
}

/// One record on a customer's timeline.
#[derive(serde::Serialize, JsonSchema)]
pub struct TimelineEntry {
    /// lead, job, estimate, invoice, credit_note or payment.
    pub kind: String,
    pub id: String,
    /// When the record was created (RFC 3339); entries are in this order.
    pub at: String,
    /// The record itself, as its own route answers it.
    #[schemars(with = "Value")]
    pub record: TimelineRecord,
}

/// A timeline entry's record, serialized as itself (`kind` says which it is): straight from
/// the typed record to the response, without an intermediate JSON value per entry.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum TimelineRecord {
    Lead(crate::intake::Lead),
    Job(crate::job::Job),
    Estimate(crate::estimate::Estimate),
    Invoice(crate::invoice::Invoice),
    CreditNote(crate::credit_note::CreditNote),
    Payment(crate::payment::Payment),
}

/// What `GET /customers/{id}/timeline` answers.
#[derive(serde::Serialize, JsonSchema)]
pub struct Timeline {
    pub customer: Customer,
    pub entries: Vec<TimelineEntry>,
}

const PAGING: &[(&str, &str)] = &[
    ("limit", "Items per page, 1 to 100 (default 25)."),
    (
        "cursor",
        "The next_cursor of the previous page of the same list (any other value is a 400).",
    ),
];

pub const ROUTES: &[Route] = &[
    Route {
        function: "GetMeFunction",
        crate_dir: "get-me",
        method: "GET",
        path: "/me",
        action: Some(Action::GetMe),
        authenticated: true,
        summary: "Who am I: user, role and tenant.",
        request: None,
        success_status: 200,
        response: schema::<Me>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "ListUsersFunction",
        crate_dir: "list-users",
        method: "GET",
        path: "/users",
        action: Some(Action::ListUsers),
        authenticated: true,
        summary: "Users of the caller's tenant (owner, admin).",
        request: None,
        success_status: 200,
        response: schema::<PageOf<UserProfile>>,
        query: PAGING,
        idempotent: false,
    },
    Route {
        function: "IntakeFunction",
        crate_dir: "intake",
        method: "POST",
        path: "/intake",
        action: Some(Action::Intake),
        authenticated: true,
        summary: "Record a lead from a call, form or campaign; creates or matches the customer and a follow-up task.",
        request: Some(schema::<IntakeInput>),
        success_status: 201,
        response: schema::<IntakeResult>,
        query: &[],
        idempotent: true,
    },
    Route {
        function: "CreateCustomerFunction",
        crate_dir: "create-customer",
        method: "POST",
        path: "/customers",
        action: Some(Action::CreateCustomer),
        authenticated: true,
        summary: "Create a customer with contact points and service locations.",
        request: Some(schema::<NewCustomer>),
        success_status: 201,
        response: schema::<Customer>,
        query: &[],
        idempotent: true,
    },
    Route {
        function: "ListCustomersFunction",
        crate_dir: "list-customers",
        method: "GET",
        path: "/customers",
        action: Some(Action::ListCustomers),
        authenticated: true,
        summary: "Customers by name, paged (not for technicians).",
        request: None,
        success_status: 200,
        response: schema::<PageOf<Customer>>,
        query: PAGING,
        idempotent: false,
    },
    Route {
        function: "GetCustomerFunction",
        crate_dir: "get-customer",
        method: "GET",
        path: "/customers/{id}",
        action: Some(Action::GetCustomer),
        authenticated: true,
        summary: "One customer (technicians: only customers with work assigned to them).",
        request: None,
        success_status: 200,
        response: schema::<Customer>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "UpdateCustomerFunction",
        crate_dir: "update-customer",
        method: "PATCH",
        path: "/customers/{id}",
        action: Some(Action::UpdateCustomer),
        authenticated: true,
        summary: "Change a customer; lists replace the stored lists.",
        request: Some(schema::<CustomerPatch>),
        success_status: 200,
        response: schema::<Customer>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "ListAuditFunction",
        crate_dir: "list-audit",
        method: "GET",
        path: "/audit",
        action: Some(Action::ListAudit),
        authenticated: true,
        summary: "The tenant's audit trail, newest first (owner, admin).",
        request: None,
        success_status: 200,
        response: schema::<PageOf<AuditRecord>>,
        query: PAGING,
        idempotent: false,
    },
    Route {
        function: "CreateEstimateFunction",
        crate_dir: "create-estimate",
        method: "POST",
        path: "/estimates",
        action: Some(Action::CreateEstimate),
        authenticated: true,
        summary: "Draft an estimate: options (good / better / best) of priced lines; per-line half-up rounding, totals stored.",
        request: Some(schema::<NewEstimate>),
        success_status: 201,
        response: schema::<Estimate>,
        query: &[],
        idempotent: true,
    },
    Route {
        function: "GetEstimateFunction",
        crate_dir: "get-estimate",
        method: "GET",
        path: "/estimates/{id}",
        action: Some(Action::GetEstimate),
        authenticated: true,
        summary: "One estimate (never for technicians: it carries prices).",
        request: None,
        success_status: 200,
        response: schema::<Estimate>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "ReviseEstimateFunction",
        crate_dir: "revise-estimate",
        method: "PATCH",
        path: "/estimates/{id}",
        action: Some(Action::ReviseEstimate),
        authenticated: true,
        summary: "Change an estimate: a draft in place; a sent one becomes a new draft revision.",
        request: Some(schema::<EstimateRevision>),
        success_status: 200,
        response: schema::<Estimate>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "SendEstimateFunction",
        crate_dir: "send-estimate",
        method: "POST",
        path: "/estimates/{id}/send",
        action: Some(Action::SendEstimate),
        authenticated: true,
        summary: "Mark a draft estimate sent.",
        request: None,
        success_status: 200,
        response: schema::<Estimate>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "ApproveEstimateFunction",
        crate_dir: "approve-estimate",
        method: "POST",
        path: "/estimates/{id}/approve",
        action: Some(Action::ApproveEstimate),
        authenticated: true,
        summary: "Record approval of one option of the sent revision (who, when, SHA-256 of what was approved).",
        request: Some(schema::<ApproveEstimate>),
        success_status: 200,
        response: schema::<Estimate>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "DeclineEstimateFunction",
        crate_dir: "decline-estimate",
        method: "POST",
        path: "/estimates/{id}/decline",
        action: Some(Action::DeclineEstimate),
        authenticated: true,
        summary: "Record that the customer declined (body may be {}).",
        request: Some(schema::<DeclineEstimate>),
        success_status: 200,
        response: schema::<Estimate>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "CreateJobFunction",
        crate_dir: "create-job",
        method: "POST",
        path: "/jobs",
        action: Some(Action::CreateJob),
        authenticated: true,
        summary: "Create a job from an approved estimate (its scope, not its prices; one job per estimate) or directly.",
        request: Some(schema::<NewJob>),
        success_status: 201,
        response: schema::<Job>,
        query: &[],
        idempotent: true,
    },
    Route {
        function: "ListJobsFunction",
        crate_dir: "list-jobs",
        method: "GET",
        path: "/jobs",
        action: Some(Action::ListJobs),
        authenticated: true,
        summary: "Jobs newest first: all of them for the office, a technician's own for technicians.",
        request: None,
        success_status: 200,
        response: schema::<PageOf<Job>>,
        query: PAGING,
        idempotent: false,
    },
    Route {
        function: "GetJobFunction",
        crate_dir: "get-job",
        method: "GET",
        path: "/jobs/{id}",
        action: Some(Action::GetJob),
        authenticated: true,
        summary: "One job (technicians: only jobs assigned to them).",
        request: None,
        success_status: 200,
        response: schema::<Job>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "ScheduleVisitFunction",
        crate_dir: "schedule-visit",
        method: "POST",
        path: "/jobs/{id}/visits",
        action: Some(Action::ScheduleVisit),
        authenticated: true,
        summary: "Add a visit with a time window, optionally assigned to a technician.",
        request: Some(schema::<NewVisit>),
        success_status: 200,
        response: schema::<Job>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "UpdateVisitFunction",
        crate_dir: "update-visit",
        method: "PATCH",
        path: "/jobs/{id}/visits/{visit_id}",
        action: Some(Action::UpdateVisit),
        authenticated: true,
        summary: "Reschedule or (re)assign a visit; technician_id null unassigns.",
        request: Some(schema::<VisitUpdate>),
        success_status: 200,
        response: schema::<Job>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "ProgressVisitFunction",
        crate_dir: "progress-visit",
        method: "POST",
        path: "/jobs/{id}/visits/{visit_id}/progress",
        action: Some(Action::ProgressVisit),
        authenticated: true,
        summary: "Move a visit forward (en_route, on_site, done) and add a note; technicians only their own visits.",
        request: Some(schema::<VisitProgress>),
        success_status: 200,
        response: schema::<Job>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "ChangeJobStatusFunction",
        crate_dir: "change-job-status",
        method: "POST",
        path: "/jobs/{id}/status",
        action: Some(Action::ChangeJobStatus),
        authenticated: true,
        summary: "Hold (reason), resume, complete (all visits done) or cancel (reason) a job.",
        request: Some(schema::<ChangeJobStatus>),
        success_status: 200,
        response: schema::<Job>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "CreateInvoiceFunction",
        crate_dir: "create-invoice",
        method: "POST",
        path: "/invoices",
        action: Some(Action::CreateInvoice),
        authenticated: true,
        summary: "Draft an invoice for a customer, from a job (its approved option's lines) and/or explicit lines.",
        request: Some(schema::<NewInvoice>),
        success_status: 201,
        response: schema::<Invoice>,
        query: &[],
        idempotent: true,
    },
    Route {
        function: "GetInvoiceFunction",
        crate_dir: "get-invoice",
        method: "GET",
        path: "/invoices/{id}",
        action: Some(Action::GetInvoice),
        authenticated: true,
        summary: "One invoice with its derived balance and overdue flag (never for technicians).",
        request: None,
        success_status: 200,
        response: schema::<Invoice>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "ReviseInvoiceFunction",
        crate_dir: "revise-invoice",
        method: "PATCH",
        path: "/invoices/{id}",
        action: Some(Action::ReviseInvoice),
        authenticated: true,
        summary: "Change a draft invoice; issued invoices are frozen.",
        request: Some(schema::<InvoiceRevision>),
        success_status: 200,
        response: schema::<Invoice>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "IssueInvoiceFunction",
        crate_dir: "issue-invoice",
        method: "POST",
        path: "/invoices/{id}/issue",
        action: Some(Action::IssueInvoice),
        authenticated: true,
        summary: "Issue a draft: allocates the next invoice number (unique, gapless) in the same transaction.",
        request: None,
        success_status: 200,
        response: schema::<Invoice>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "ListTasksFunction",
        crate_dir: "list-tasks",
        method: "GET",
        path: "/tasks",
        action: Some(Action::ListTasks),
        authenticated: true,
        summary: "What's next for the caller's role, soonest first, overdue marked.",
        request: None,
        success_status: 200,
        response: schema::<PageOf<Task>>,
        query: PAGING,
        idempotent: false,
    },
    Route {
        function: "CompleteTaskFunction",
        crate_dir: "complete-task",
        method: "POST",
        path: "/tasks/{id}/complete",
        action: Some(Action::CompleteTask),
        authenticated: true,
        summary: "Mark a task done.",
        request: None,
        success_status: 200,
        response: schema::<Task>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "SnoozeTaskFunction",
        crate_dir: "snooze-task",
        method: "POST",
        path: "/tasks/{id}/snooze",
        action: Some(Action::SnoozeTask),
        authenticated: true,
        summary: "Push a task to a later time (at most 90 days).",
        request: Some(schema::<SnoozeTask>),
        success_status: 200,
        response: schema::<Task>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "GetTimelineFunction",
        crate_dir: "get-timeline",
        method: "GET",
        path: "/customers/{id}/timeline",
        action: Some(Action::GetTimeline),
        authenticated: true,
        summary: "A customer's leads, jobs (with visits), estimates and invoices in order; technicians: their own jobs only.",
        request: None,
        success_status: 200,
        response: schema::<Timeline>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "EnrollTotpFunction",
        crate_dir: "enroll-totp",
        method: "POST",
        path: "/me/mfa/totp",
        action: Some(Action::EnrollTotp),
        authenticated: true,
        summary: "Start TOTP enrollment: the secret (stored KMS-encrypted) is shown this once. A first authenticator needs a sign-in from the last 5 minutes (auth_time); replacing a confirmed one needs an mfa_enrollment step-up with it (401 with step_up otherwise).",
        request: None,
        success_status: 201,
        response: schema::<EnrollmentSecret>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "ConfirmTotpFunction",
        crate_dir: "confirm-totp",
        method: "POST",
        path: "/me/mfa/totp/confirm",
        action: Some(Action::ConfirmTotp),
        authenticated: true,
        summary: "Confirm enrollment with a first code.",
        request: Some(schema::<CodeInput>),
        success_status: 200,
        response: |_| schemars::json_schema!({ "type": "object" }),
        query: &[],
        idempotent: false,
    },
    Route {
        function: "StepUpFunction",
        crate_dir: "step-up",
        method: "POST",
        path: "/me/mfa/step-up",
        action: Some(Action::StepUp),
        authenticated: true,
        summary: "Verify a code (single use, 5 failures lock for 15 minutes) and get a 5-minute proof for one action class in this sign-in.",
        request: Some(schema::<StepUpInput>),
        success_status: 200,
        response: schema::<StepUpProof>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "VoidInvoiceFunction",
        crate_dir: "void-invoice",
        method: "POST",
        path: "/invoices/{id}/void",
        action: Some(Action::VoidInvoice),
        authenticated: true,
        summary: "Void an issued, unpaid invoice (needs a billing_corrections step-up; 401 step-up-required otherwise).",
        request: Some(schema::<VoidInvoice>),
        success_status: 200,
        response: schema::<Invoice>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "InviteUserFunction",
        crate_dir: "invite-user",
        method: "POST",
        path: "/users",
        action: Some(Action::InviteUser),
        authenticated: true,
        summary: "Invite a user into the caller's tenant with a role (owner, admin; only owners invite owners). Needs a user_management step-up; two phases: without confirmation_id it answers 202 with a summary and the id. Invited owners and admins are told (mfa_required) to enroll an authenticator before any gated action.",
        request: Some(schema::<InviteUser>),
        success_status: 201,
        response: schema::<Invited>,
        query: &[],
        idempotent: true,
    },
    Route {
        function: "ChangeUserRoleFunction",
        crate_dir: "change-user-role",
        method: "PATCH",
        path: "/users/{id}/role",
        action: Some(Action::ChangeUserRole),
        authenticated: true,
        summary: "Change a user's role (owner, admin; only owners make or change owners; never one's own). Their sign-ins end at once. Step-up and two phases as for invitations.",
        request: Some(schema::<ChangeRole>),
        success_status: 200,
        response: schema::<UserProfile>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "DisableUserFunction",
        crate_dir: "disable-user",
        method: "POST",
        path: "/users/{id}/disable",
        action: Some(Action::DisableUser),
        authenticated: true,
        summary: "Disable a user (owner, admin; only owners disable owners; never oneself). Their sign-ins end at once. Step-up and two phases; the body may be {}.",
        request: Some(schema::<ConfirmUserChange>),
        success_status: 200,
        response: schema::<UserProfile>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "EnableUserFunction",
        crate_dir: "enable-user",
        method: "POST",
        path: "/users/{id}/enable",
        action: Some(Action::EnableUser),
        authenticated: true,
        summary: "Enable a disabled user (owner, admin; only owners enable owners). Step-up and two phases; the body may be {}.",
        request: Some(schema::<ConfirmUserChange>),
        success_status: 200,
        response: schema::<UserProfile>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "ResetUserMfaFunction",
        crate_dir: "reset-user-mfa",
        method: "POST",
        path: "/users/{id}/mfa/reset",
        action: Some(Action::ResetUserMfa),
        authenticated: true,
        summary: "Remove a user's authenticator (lost or compromised) and their step-up proofs; they enroll afresh from a new sign-in (owner, admin; only owners reset owners; never oneself). Step-up and two phases; the body may be {}.",
        request: Some(schema::<ConfirmUserChange>),
        success_status: 200,
        response: schema::<MfaReset>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "StartCheckoutFunction",
        crate_dir: "start-checkout",
        method: "POST",
        path: "/invoices/{id}/checkout",
        action: Some(Action::StartCheckout),
        authenticated: true,
        summary: "Open the payment provider's hosted checkout for what an issued invoice still owes (the customer pays there; card data never reaches Fieldvault).",
        request: None,
        success_status: 201,
        response: schema::<CheckoutStarted>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "PaymentWebhookFunction",
        crate_dir: "payment-webhook",
        method: "POST",
        path: "/webhooks/payments",
        action: Some(Action::ReceivePayment),
        authenticated: false,
        summary: "The payment provider's signed events (public; HMAC-SHA256 over the raw body with a timestamp, 5-minute tolerance, deduplicated by event id).",
        request: None,
        success_status: 200,
        response: schema::<EventReceipt>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "RecordPaymentFunction",
        crate_dir: "record-payment",
        method: "POST",
        path: "/payments",
        action: Some(Action::RecordPayment),
        authenticated: true,
        summary: "Record a payment the provider captured, by its reference, allocated to invoices of one customer (billing_corrections step-up; two phases: 202 with a confirmation, then 201).",
        request: Some(schema::<RecordPayment>),
        success_status: 201,
        response: schema::<Payment>,
        query: &[],
        idempotent: true,
    },
    Route {
        function: "GetPaymentFunction",
        crate_dir: "get-payment",
        method: "GET",
        path: "/payments/{id}",
        action: Some(Action::GetPayment),
        authenticated: true,
        summary: "One payment: display-safe provider metadata, allocations and refunds.",
        request: None,
        success_status: 200,
        response: schema::<Payment>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "RefundPaymentFunction",
        crate_dir: "refund-payment",
        method: "POST",
        path: "/payments/{id}/refunds",
        action: Some(Action::RefundPayment),
        authenticated: true,
        summary: "Refund part or all of a payment, never beyond what was captured (billing_corrections step-up; two phases: 202 with a confirmation, then 201).",
        request: Some(schema::<NewRefund>),
        success_status: 201,
        response: schema::<Payment>,
        query: &[],
        idempotent: true,
    },
    Route {
        function: "IssueCreditNoteFunction",
        crate_dir: "issue-credit-note",
        method: "POST",
        path: "/invoices/{id}/credit-notes",
        action: Some(Action::IssueCreditNote),
        authenticated: true,
        summary: "Credit part of an issued invoice with a numbered credit note (billing_corrections step-up; two phases: 202 with a confirmation, then 201).",
        request: Some(schema::<NewCreditNote>),
        success_status: 201,
        response: schema::<CreditNote>,
        query: &[],
        idempotent: true,
    },
    Route {
        function: "ExportLedgerFunction",
        crate_dir: "export-ledger",
        method: "GET",
        path: "/accounting/export",
        action: Some(Action::ExportLedger),
        authenticated: true,
        summary: "The tenant's ledger for a period (invoices issued and voided, credit notes, payments, refunds) with sums (needs an accounting_exports step-up; the export is audited).",
        request: None,
        success_status: 200,
        response: schema::<Export>,
        query: &[
            ("from", "First day, YYYY-MM-DD."),
            ("to", "Last day, YYYY-MM-DD (at most 366 days after from)."),
        ],
        idempotent: false,
    },
    Route {
        function: "SendInvoiceFunction",
        crate_dir: "send-invoice",
        method: "POST",
        path: "/invoices/{id}/send",
        action: Some(Action::SendInvoice),
        authenticated: true,
        summary: "Send an issued invoice to the customer: a pay link (answered once; the outbox keeps it sealed with KMS).",
        request: None,
        success_status: 200,
        response: schema::<serde_json::Value>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "RevokeLinkFunction",
        crate_dir: "revoke-link",
        method: "POST",
        path: "/links/{id}/revoke",
        action: Some(Action::RevokeLink),
        authenticated: true,
        summary: "Revoke a customer link by its id (the SHA-256 of its token); it then opens the neutral page.",
        request: None,
        success_status: 200,
        response: schema::<Link>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "CreatePortalSignInFunction",
        crate_dir: "create-portal-sign-in",
        method: "POST",
        path: "/customers/{id}/portal-link",
        action: Some(Action::CreatePortalSignIn),
        authenticated: true,
        summary: "A one-time sign-in link (30 minutes) to a page with all the customer's open documents.",
        request: None,
        success_status: 201,
        response: schema::<IssuedLink>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "PortalPageFunction",
        crate_dir: "portal-page",
        method: "GET",
        path: "/portal/l/{token}",
        action: Some(Action::PortalView),
        authenticated: false,
        summary: "The customer's page for a link (public, HTML): estimate with approve/decline, invoice with pay and receipt, or their documents; refused links get one neutral page.",
        request: None,
        success_status: 200,
        response: schema::<String>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "PortalActionFunction",
        crate_dir: "portal-action",
        method: "POST",
        path: "/portal/l/{token}",
        action: Some(Action::PortalApprove),
        authenticated: false,
        summary: "A customer's form through a link (public, HTML): approve or decline an estimate (typed name, consent), or pay an invoice at the provider's checkout.",
        request: None,
        success_status: 200,
        response: schema::<String>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "CreateEvidenceUploadFunction",
        crate_dir: "create-evidence-upload",
        method: "POST",
        path: "/jobs/{id}/evidence",
        action: Some(Action::UploadEvidence),
        authenticated: true,
        summary: "A presigned PUT (5 minutes) for a photo, video or document of a job: bound to the content type, the exact size and the SSE-KMS headers, which must be sent as given (office; technicians only for their jobs).",
        request: Some(schema::<NewEvidence>),
        success_status: 201,
        response: schema::<EvidenceUpload>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "ListEvidenceFunction",
        crate_dir: "list-evidence",
        method: "GET",
        path: "/jobs/{id}/evidence",
        action: Some(Action::ListEvidence),
        authenticated: true,
        summary: "A job's evidence records (office; technicians only for their jobs), paged.",
        request: None,
        success_status: 200,
        response: schema::<PageOf<Evidence>>,
        query: PAGING,
        idempotent: false,
    },
    Route {
        function: "DownloadEvidenceFunction",
        crate_dir: "download-evidence",
        method: "GET",
        path: "/evidence/{id}/download",
        action: Some(Action::DownloadEvidence),
        authenticated: true,
        summary: "A presigned GET valid at most 5 minutes, issued after an audited access record (job evidence: office and the job's technicians; recordings and transcripts: owner, admin, dispatcher).",
        request: None,
        success_status: 200,
        response: schema::<EvidenceDownload>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "TelephonyWebhookFunction",
        crate_dir: "telephony-webhook",
        method: "POST",
        path: "/webhooks/telephony",
        action: Some(Action::ReceiveCall),
        authenticated: false,
        summary: "The telephony provider's signed events (public; a per-tenant URL token and an HMAC-SHA256 signature over the raw body, 5-minute tolerance, deduplicated by event and call id): call.completed records the call, creates or links the lead and customer and answers a presigned PUT for the recording; call.transcribed stores the transcript.",
        request: None,
        success_status: 200,
        response: schema::<CallReceipt>,
        query: &[
            ("tenant", "The tenant this URL was issued for."),
            ("tenant_token", "HMAC-SHA256 of the tenant id with the webhook secret (hex)."),
        ],
        idempotent: false,
    },
    Route {
        function: "ListCallsFunction",
        crate_dir: "list-calls",
        method: "GET",
        path: "/customers/{id}/calls",
        action: Some(Action::ListCalls),
        authenticated: true,
        summary: "A customer's calls with their recording and transcript evidence ids (owner, admin, dispatcher), paged.",
        request: None,
        success_status: 200,
        response: schema::<PageOf<Call>>,
        query: PAGING,
        idempotent: false,
    },
    Route {
        function: "PutHrRecordFunction",
        crate_dir: "put-hr-record",
        method: "PUT",
        path: "/users/{id}/hr",
        action: Some(Action::PutHrRecord),
        authenticated: true,
        summary: "Set a user's HR record: legal name, tax id, bank details (owner only, after an hr_records step-up). Tax id and bank details are stored KMS envelope-encrypted; the answer carries only their last four.",
        request: Some(schema::<HrRecordInput>),
        success_status: 200,
        response: schema::<HrRecordView>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "GetHrRecordFunction",
        crate_dir: "get-hr-record",
        method: "GET",
        path: "/users/{id}/hr",
        action: Some(Action::GetHrRecord),
        authenticated: true,
        summary: "A user's HR record (owner only, after an hr_records step-up): the read is audited before anything is read; tax id and account number only as their last four.",
        request: None,
        success_status: 200,
        response: schema::<HrRecordView>,
        query: &[],
        idempotent: false,
    },
    Route {
        function: "GetOpenApiFunction",
        crate_dir: "get-openapi",
        method: "GET",
        path: "/openapi.json",
        action: None,
        authenticated: false,
        summary: "This document.",
        request: None,
        success_status: 200,
        response: |_| schemars::json_schema!({ "type": "object" }),
        query: &[],
        idempotent: false,
    },
];

/// Find the route for a method and a concrete path, with its path parameters.
pub fn match_route(method: &str, path: &str) -> Option<(&'static Route, Map<String, Value>)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    ROUTES.iter().find_map(|r| {
        if !r.method.eq_ignore_ascii_case(method) {
            return None;
        }
        let pattern: Vec<&str> = r.path.split('/').collect();
        if pattern.len() != segments.len() {
            return None;
        }
        let mut params = Map::new();
        for (p, s) in pattern.iter().zip(&segments) {
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !s.is_empty() => {
                    params.insert(name.to_owned(), Value::String((*s).to_owned()));
                }
                Some(_) => return None,
                None if p == s => {}
                None => return None,
            }
        }
        Some((r, params))
    })
}

/// True when some route serves this path with another method (405 rather than 404).
pub fn path_exists(path: &str) -> bool {
    ["GET", "POST", "PATCH", "PUT", "DELETE"]
        .iter()
        .any(|m| match_route(m, path).is_some())
}

/// Two-phase routes are the ones whose request carries a `confirmation_id`.
fn takes_confirmation(generator: &SchemaGenerator, schema: &schemars::Schema) -> bool {
    let name = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next());
    name.and_then(|n| generator.definitions().get(n))
        .and_then(|d| d.get("properties"))
        .is_some_and(|p| p.get("confirmation_id").is_some())
}

/// What a path parameter accepts: the shape its handler parses (anything else is a 404).
fn path_parameter(path: &str, name: &str) -> Value {
    use crate::schema::{LINK_ID_PATTERN, LINK_TOKEN_PATTERN, ULID_PATTERN, USER_ID_PATTERN};
    if name == "token" {
        return json!({ "type": "string", "pattern": LINK_TOKEN_PATTERN,
            "description": "The link's token: the tenant id, a dot, 43 base64url characters." });
    }
    if path.starts_with("/users/") {
        json!({ "type": "string", "pattern": USER_ID_PATTERN, "description": "A user id (the Cognito `sub`)." })
    } else if path.starts_with("/links/") {
        json!({ "type": "string", "pattern": LINK_ID_PATTERN, "description": "A link id: the SHA-256 of its token (hex)." })
    } else if path.starts_with("/tasks/") {
        let kinds: Vec<&str> = crate::task::TaskKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect();
        json!({ "type": "string", "pattern": format!("^({}):[A-Za-z0-9]{{1,40}}$", kinds.join("|")),
            "description": "A task id: its kind and the id of what it is about." })
    } else {
        json!({ "type": "string", "pattern": ULID_PATTERN, "description": "A record id (ULID)." })
    }
}

/// What a query parameter accepts, and whether it is required.
fn query_parameter(name: &str) -> (Value, bool) {
    match name {
        "limit" => (
            json!({ "type": "integer", "minimum": 1, "maximum": 100, "default": 25 }),
            false,
        ),
        // base64url of the position, a dot, base64url of its HMAC-SHA256.
        "cursor" => (
            json!({ "type": "string", "pattern": "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{43}$" }),
            false,
        ),
        "from" | "to" => (json!({ "type": "string", "format": "date" }), true),
        "tenant" => (
            json!({ "type": "string", "pattern": crate::schema::TENANT_ID_PATTERN }),
            true,
        ),
        "tenant_token" => (
            json!({ "type": "string", "pattern": "^[0-9a-f]{64}$" }),
            true,
        ),
        _ => (json!({ "type": "string" }), false),
    }
}

/// The failures a route can answer, besides its successes. Every route: a malformed request
/// (400), nothing there (404), a body over the limit (413), a dependency that did not answer
/// in time (503 with `Retry-After`). Routes behind the authorizer add 401 (no valid token, or a
/// step-up needed) and 403 (not for this role); writes add 409; routes with a JSON body, and
/// the portal's form, add 415; creating POSTs add 422 (an `Idempotency-Key` reused with
/// another body).
fn failures(r: &Route) -> Vec<(u16, &'static str)> {
    let mut out = vec![
        (400, "The request is invalid"),
        (404, "Not found"),
        (413, "The request body is too large"),
        (
            503,
            "A dependency is unavailable; nothing was changed. Retry after `Retry-After` seconds",
        ),
    ];
    if r.authenticated {
        out.push((
            401,
            "A valid access token is required, or a step-up (see `step_up`)",
        ));
        out.push((403, "Not allowed for this role"));
    }
    if r.method != "GET" {
        out.push((409, "Conflict with the current state"));
    }
    if r.request.is_some() || r.path.starts_with("/webhooks/") {
        out.push((415, "The request body must be application/json"));
    } else if r.path.starts_with("/portal/") && r.method == "POST" {
        out.push((
            415,
            "The request body must be application/x-www-form-urlencoded",
        ));
    }
    if r.idempotent {
        out.push((422, "Idempotency-Key reused with a different body"));
    }
    out.sort_unstable();
    out
}

/// The customer's form on a portal page.
fn portal_form() -> Value {
    json!({
        "type": "object",
        "required": ["action"],
        "properties": {
            "action": { "type": "string", "enum": ["approve", "decline", "pay"] },
            "option_id": { "type": "string", "description": "approve: the option chosen." },
            "name": { "type": "string", "description": "approve: the customer's typed name (their signature)." },
            "consent": { "type": "string", "description": "approve: present when the consent box is ticked." },
            "reason": { "type": "string", "description": "decline: why, optionally." }
        }
    })
}

/// Point `$ref`s at renamed definitions.
fn rename_refs(value: &mut Value, renamed: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref") {
                if let Some(name) = r.strip_prefix("#/components/schemas/") {
                    if let Some(new) = renamed.get(name) {
                        *r = format!("#/components/schemas/{new}");
                    }
                }
            }
            map.values_mut().for_each(|v| rename_refs(v, renamed));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renamed)),
        _ => {}
    }
}

/// The OpenAPI 3.1 document, generated from the route list and the Rust types. Requests are
/// described as they are parsed and answers as they are written (fields left out when empty
/// are not required in answers); a type whose two descriptions differ gets two schemas, the
/// answer's named `<Type>Answer`.
pub fn openapi() -> Value {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    let mut requests = settings.clone().for_deserialize().into_generator();
    let mut answers = settings.for_serialize().into_generator();
    let problem = answers.subschema_for::<Problem>();
    let retry_after = json!({ "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": { "type": "string", "pattern": "^[0-9]+$" }
    } });
    let mut paths = Map::new();
    for r in ROUTES {
        let portal = r.path.starts_with("/portal/");
        let mut responses = Map::new();
        let success = if portal {
            json!({ "description": "Success", "content": { "text/html": { "schema": { "type": "string" } } } })
        } else {
            let mut ok = json!({ "description": "Success", "content": { "application/json": { "schema": (r.response)(&mut answers) } } });
            if r.idempotent {
                ok["headers"] = json!({ "Idempotent-Replayed": {
                    "description": "Present when this answer replays the first request with the same Idempotency-Key.",
                    "schema": { "type": "string", "enum": ["true"] }
                } });
            }
            ok
        };
        responses.insert(r.success_status.to_string(), success);
        if portal && r.method == "POST" {
            responses.insert(
                "303".into(),
                json!({ "description": "On to the payment provider's checkout, or back to the page",
                    "headers": { "Location": { "schema": { "type": "string" } } },
                    "content": { "text/html": { "schema": { "type": "string" } } } }),
            );
        }
        for (code, text) in failures(r) {
            // The portal answers pages, failures included (a dead link is one neutral page).
            let mut failure = if portal {
                json!({ "description": text, "content": { "text/html": { "schema": { "type": "string" } } } })
            } else {
                json!({ "description": text, "content": { "application/problem+json": { "schema": problem } } })
            };
            if code == 503 {
                failure["headers"] = retry_after.clone();
            }
            responses.insert(code.to_string(), failure);
        }
        let mut op = json!({
            "operationId": r.function.trim_end_matches("Function"),
            "summary": r.summary,
            "responses": responses,
        });
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": path_parameter(r.path, name) }))
            .collect();
        params.extend(r.query.iter().map(|(name, description)| {
            let (schema, required) = query_parameter(name);
            json!({ "name": name, "in": "query", "required": required, "description": description, "schema": schema })
        }));
        if r.idempotent {
            params.push(json!({
                "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "Same key and body replay the first response (header Idempotent-Replayed: true); a different body is 422; a duplicate in flight is 409. Kept 25 hours.",
                "schema": { "type": "string", "pattern": "^[!-~]{1,255}$" }
            }));
        }
        let signature = match r.path {
            "/webhooks/payments" => Some(crate::webhook::SIGNATURE_HEADER),
            "/webhooks/telephony" => Some(crate::calls::SIGNATURE_HEADER),
            _ => None,
        };
        if let Some(header) = signature {
            params.push(json!({
                "name": header, "in": "header", "required": true,
                "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">`, by the provider.",
                "schema": { "type": "string", "minLength": 1 }
            }));
            op["requestBody"] = json!({ "required": true, "description": "The provider's event, as it signed it.",
                "content": { "application/json": { "schema": { "type": "object" } } } });
        }
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if portal && r.method == "POST" {
            op["requestBody"] = json!({ "required": true,
                "content": { "application/x-www-form-urlencoded": { "schema": portal_form() } } });
        }
        if let Some(request) = r.request {
            let schema = request(&mut requests);
            if takes_confirmation(&requests, &schema) {
                let confirmation = answers.subschema_for::<crate::confirm::Confirmation>();
                op["responses"]["202"] = json!({ "description": "Prepared: a summary and a confirmation id; repeat the request with `confirmation_id` to carry it out", "content": { "application/json": { "schema": confirmation } } });
            }
            op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": schema } } });
        }
        op["security"] = if r.authenticated {
            json!([{ "cognito": [] }])
        } else {
            json!([])
        };
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = op;
    }
    let mut schemas = requests.take_definitions(true);
    let mut answer_schemas = answers.take_definitions(true);
    let renamed: BTreeMap<String, String> = answer_schemas
        .iter()
        .filter(|(name, schema)| schemas.get(*name).is_some_and(|s| s != *schema))
        .map(|(name, _)| (name.clone(), format!("{name}Answer")))
        .collect();
    for (name, mut schema) in std::mem::take(&mut answer_schemas) {
        rename_refs(&mut schema, &renamed);
        let name = renamed.get(&name).cloned().unwrap_or(name);
        schemas.insert(name, schema);
    }
    for item in paths.values_mut() {
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            if let Some(responses) = op.get_mut("responses") {
                rename_refs(responses, &renamed);
            }
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Fieldvault API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The operating record for trades shops. Every route but this document, the customer portal and the providers' webhooks needs a Cognito access token. Errors are RFC 9457 problem+json (the portal's are pages)."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "cognito": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "Cognito access token" }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_parameters() {
        let (r, params) = match_route("GET", "/customers/01ABC").expect("route");
        assert_eq!(r.function, "GetCustomerFunction");
        assert_eq!(params["id"], "01ABC");
        assert!(match_route("DELETE", "/customers/01ABC").is_none());
        assert!(path_exists("/customers/01ABC"));
        assert!(match_route("GET", "/customers/").is_some_and(|(r, _)| r.path == "/customers"));
        assert!(match_route("GET", "/nope").is_none());
    }

    #[test]
    fn openapi_lists_every_route_with_resolvable_refs() {
        let doc = openapi();
        for r in ROUTES {
            assert!(
                doc["paths"][r.path][r.method.to_lowercase()].is_object(),
                "{} {}",
                r.method,
                r.path
            );
        }
        let text = doc.to_string();
        for (i, _) in text.match_indices("#/components/schemas/") {
            let rest = &text[i + "#/components/schemas/".len()..];
            let name: String = rest.chars().take_while(|c| *c != '"').collect();
            assert!(
                doc["components"]["schemas"][&name].is_object(),
                "dangling ref {name}"
            );
        }
    }

    #[test]
    fn problems_are_documented_as_written_with_errors_optional() {
        let doc = openapi();
        let problem = &doc["components"]["schemas"]["Problem"];
        let required: Vec<&str> = problem["required"]
            .as_array()
            .expect("required")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(required, ["type", "title", "status"]);
        assert_eq!(problem["properties"]["status"]["type"], "integer");
        // What a problem really looks like (no errors, no detail) validates against it.
        let written =
            serde_json::to_value(crate::problem::ApiError::NotFound.problem(None)).expect("json");
        assert!(written.get("errors").is_none());
    }

    #[test]
    fn parameters_carry_the_constraints_the_handlers_apply() {
        let doc = openapi();
        let param = |path: &str, method: &str, name: &str| -> Value {
            doc["paths"][path][method]["parameters"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
                .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
        };
        let limit = param("/customers", "get", "limit");
        assert_eq!(limit["schema"]["type"], "integer");
        assert_eq!(
            (
                limit["schema"]["minimum"].as_i64(),
                limit["schema"]["maximum"].as_i64()
            ),
            (Some(1), Some(100))
        );
        assert_eq!(
            param("/customers/{id}", "get", "id")["schema"]["pattern"],
            crate::schema::ULID_PATTERN
        );
        assert_eq!(
            param("/users/{id}/role", "patch", "id")["schema"]["pattern"],
            crate::schema::USER_ID_PATTERN
        );
        assert_eq!(
            param("/links/{id}/revoke", "post", "id")["schema"]["pattern"],
            crate::schema::LINK_ID_PATTERN
        );
        assert_eq!(
            param("/portal/l/{token}", "get", "token")["schema"]["pattern"],
            crate::schema::LINK_TOKEN_PATTERN
        );
        assert!(
            param("/tasks/{id}/complete", "post", "id")["schema"]["pattern"]
                .as_str()
                .is_some_and(|p| p.contains("follow_up_lead"))
        );
        let from = param("/accounting/export", "get", "from");
        assert_eq!(
            (
                from["required"].as_bool(),
                from["schema"]["format"].as_str()
            ),
            (Some(true), Some("date"))
        );
        // Every path parameter of every route is constrained, none a bare string.
        for r in ROUTES {
            for p in doc["paths"][r.path][r.method.to_lowercase()]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if p["in"] == "path" {
                    assert!(
                        p["schema"]["pattern"].is_string(),
                        "{} {} {}",
                        r.method,
                        r.path,
                        p["name"]
                    );
                }
            }
        }
        // Roles are their five names.
        let role = &doc["components"]["schemas"]["Role"];
        assert_eq!(
            role["enum"],
            json!(["owner", "admin", "dispatcher", "technician", "accounting"])
        );
        assert_eq!(
            doc["components"]["schemas"]["InviteUser"]["properties"]["role"]["$ref"],
            "#/components/schemas/Role"
        );
    }

    #[test]
    fn every_route_documents_each_status_and_content_type_it_answers() {
        let doc = openapi();
        for r in ROUTES {
            let responses = &doc["paths"][r.path][r.method.to_lowercase()]["responses"];
            let what = format!("{} {}", r.method, r.path);
            for code in ["400", "404", "413", "503"] {
                assert!(responses[code].is_object(), "{what}: {code}");
            }
            assert!(
                responses["503"]["headers"]["Retry-After"].is_object(),
                "{what}"
            );
            for code in ["401", "403"] {
                assert_eq!(
                    responses[code].is_object(),
                    r.authenticated,
                    "{what}: {code}"
                );
            }
            assert_eq!(
                responses["409"].is_object(),
                r.method != "GET",
                "{what}: 409"
            );
            assert_eq!(responses["422"].is_object(), r.idempotent, "{what}: 422");
            if r.request.is_some() {
                assert!(responses["415"].is_object(), "{what}: 415");
            }
            let failure_media = if r.path.starts_with("/portal/") {
                "text/html"
            } else {
                "application/problem+json"
            };
            for (code, response) in responses.as_object().expect("responses") {
                if code.starts_with('4') || code.starts_with('5') {
                    assert!(
                        response["content"][failure_media].is_object(),
                        "{what}: {code}"
                    );
                }
            }
        }
        let page = &doc["paths"]["/portal/l/{token}"]["get"]["responses"]["200"]["content"];
        assert!(page["text/html"].is_object());
        let form = &doc["paths"]["/portal/l/{token}"]["post"]["requestBody"]["content"];
        assert!(form["application/x-www-form-urlencoded"].is_object());
    }

    #[test]
    fn answers_are_described_as_written_and_integers_as_integers() {
        let doc = openapi();
        let text = doc.to_string();
        assert!(
            !text.contains("\"type\":\"number\""),
            "a number where the API has integers"
        );
        // A type described differently as a request and as an answer gets both schemas.
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for (name, _) in schemas.iter().filter(|(n, _)| n.ends_with("Answer")) {
            let base = name.trim_end_matches("Answer");
            assert!(schemas.contains_key(base), "{name} without {base}");
        }
        let answer = &doc["paths"]["/customers/{id}"]["get"]["responses"]["200"]["content"]
            ["application/json"]["schema"]["$ref"];
        assert!(answer
            .as_str()
            .is_some_and(|r| r.starts_with("#/components/schemas/Customer")));
    }

    #[test]
    fn two_phase_routes_document_their_prepare_answer() {
        let doc = openapi();
        for (method, path) in [
            ("post", "/invoices/{id}/void"),
            ("post", "/invoices/{id}/credit-notes"),
            ("post", "/payments"),
            ("post", "/payments/{id}/refunds"),
            ("post", "/users/{id}/mfa/reset"),
        ] {
            assert!(
                doc["paths"][path][method]["responses"]["202"].is_object(),
                "{method} {path}"
            );
        }
        assert!(doc["paths"]["/invoices"]["post"]["responses"]["202"].is_null());
    }
}
