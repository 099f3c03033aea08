//! Every domain action the API exposes, by one name used in routes, policies and audit.
use serde::Serialize;

macro_rules! actions {
    ($($(#[$doc:meta])* $name:ident => $audit:literal),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum Action {
            $($(#[$doc])* $name),*
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$name),*];

            /// The Cedar action id.
            pub fn policy_name(self) -> &'static str {
                match self {
                    $(Action::$name => stringify!($name)),*
                }
            }

            /// The name audit records carry.
            pub fn audit_name(self) -> &'static str {
                match self {
                    $(Action::$name => $audit),*
                }
            }
        }
    };
}

actions! {
    GetMe => "me.read",
    ListUsers => "user.list",
    Intake => "intake.create",
    CreateCustomer => "customer.create",
    GetCustomer => "customer.read",
    ListCustomers => "customer.list",
    UpdateCustomer => "customer.update",
    ListAudit => "audit.list",
    /// Not a route: the first request of a sign-in session, recorded for the audit trail.
    SignIn => "auth.sign_in",
    CreateEstimate => "estimate.create",
    GetEstimate => "estimate.read",
    ReviseEstimate => "estimate.revise",
    SendEstimate => "estimate.send",
    ApproveEstimate => "estimate.approve",
    DeclineEstimate => "estimate.decline",
    CreateJob => "job.create",
    GetJob => "job.read",
    ListJobs => "job.list",
    ScheduleVisit => "job.visit.schedule",
    UpdateVisit => "job.visit.update",
    ProgressVisit => "job.visit.progress",
    ChangeJobStatus => "job.status",
    CreateInvoice => "invoice.create",
    GetInvoice => "invoice.read",
    ReviseInvoice => "invoice.revise",
    IssueInvoice => "invoice.issue",
    ListTasks => "task.list",
    CompleteTask => "task.complete",
    SnoozeTask => "task.snooze",
    GetTimeline => "customer.timeline",
    EnrollTotp => "mfa.enroll",
    ConfirmTotp => "mfa.confirm",
    StepUp => "mfa.step_up",
    VoidInvoice => "invoice.void",
    InviteUser => "user.invite",
    ChangeUserRole => "user.role_change",
    DisableUser => "user.disable",
    EnableUser => "user.enable",
    /// An owner/admin removes a user's authenticator (lost or compromised); the user enrolls
    /// afresh.
    ResetUserMfa => "user.mfa_reset",
    /// Not a route: a verified token refused because its user was disabled, their role
    /// changed or their sign-ins were revoked (`App::begin`).
    SessionRefused => "auth.session_refused",
    IssueCreditNote => "invoice.credit_note",
    StartCheckout => "invoice.checkout",
    /// The provider's signed webhook reporting a captured payment.
    ReceivePayment => "payment.receive",
    RecordPayment => "payment.record",
    GetPayment => "payment.read",
    RefundPayment => "payment.refund",
    ExportLedger => "accounting.export",
    PutHrRecord => "hr.write",
    GetHrRecord => "hr.read",
    /// A presigned upload for a job's photo, video or document.
    UploadEvidence => "evidence.upload",
    ListEvidence => "evidence.list",
    /// A presigned download URL, issued only after its access record is written.
    DownloadEvidence => "evidence.download",
    /// The telephony provider's signed webhook reporting a call or its transcript.
    ReceiveCall => "call.receive",
    ListCalls => "call.list",
    SendInvoice => "invoice.send",
    RevokeLink => "link.revoke",
    CreatePortalSignIn => "customer.portal_link",
    PortalView => "portal.view",
    PortalApprove => "portal.approve",
    PortalDecline => "portal.decline",
    PortalPay => "portal.pay",
    PortalSignIn => "portal.sign_in",
    /// Not a route: a link that did not open (unknown, expired, used, revoked, stale).
    PortalRefused => "portal.link_refused",
}
