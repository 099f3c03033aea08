//! Which handler serves which template function: the local gateway's view of the Lambdas.
use std::future::Future;
use std::pin::Pin;

use fieldvault_aws::App;
use lambda_http::{Body, Request, Response};

pub type BoxedResponse = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
pub type Handler = fn(&'static App, Request) -> BoxedResponse;

/// Template logical id → handler. A template function missing here fails the gateway's start.
pub const HANDLERS: &[(&str, Handler)] = &[
    ("GetMeFunction", |a, r| Box::pin(fv_get_me::handle(a, r))),
    ("ListUsersFunction", |a, r| {
        Box::pin(fv_list_users::handle(a, r))
    }),
    ("IntakeFunction", |a, r| Box::pin(fv_intake::handle(a, r))),
    ("CreateCustomerFunction", |a, r| {
        Box::pin(fv_create_customer::handle(a, r))
    }),
    ("ListCustomersFunction", |a, r| {
        Box::pin(fv_list_customers::handle(a, r))
    }),
    ("GetCustomerFunction", |a, r| {
        Box::pin(fv_get_customer::handle(a, r))
    }),
    ("UpdateCustomerFunction", |a, r| {
        Box::pin(fv_update_customer::handle(a, r))
    }),
    ("ListAuditFunction", |a, r| {
        Box::pin(fv_list_audit::handle(a, r))
    }),
    ("CreateEstimateFunction", |a, r| {
        Box::pin(fv_create_estimate::handle(a, r))
    }),
    ("GetEstimateFunction", |a, r| {
        Box::pin(fv_get_estimate::handle(a, r))
    }),
    ("ReviseEstimateFunction", |a, r| {
        Box::pin(fv_revise_estimate::handle(a, r))
    }),
    ("SendEstimateFunction", |a, r| {
        Box::pin(fv_send_estimate::handle(a, r))
    }),
    ("ApproveEstimateFunction", |a, r| {
        Box::pin(fv_approve_estimate::handle(a, r))
    }),
    ("DeclineEstimateFunction", |a, r| {
        Box::pin(fv_decline_estimate::handle(a, r))
    }),
    ("CreateJobFunction", |a, r| {
        Box::pin(fv_create_job::handle(a, r))
    }),
    ("GetJobFunction", |a, r| Box::pin(fv_get_job::handle(a, r))),
    ("ListJobsFunction", |a, r| {
        Box::pin(fv_list_jobs::handle(a, r))
    }),
    ("ScheduleVisitFunction", |a, r| {
        Box::pin(fv_schedule_visit::handle(a, r))
    }),
    ("UpdateVisitFunction", |a, r| {
        Box::pin(fv_update_visit::handle(a, r))
    }),
    ("ProgressVisitFunction", |a, r| {
        Box::pin(fv_progress_visit::handle(a, r))
    }),
    ("ChangeJobStatusFunction", |a, r| {
        Box::pin(fv_change_job_status::handle(a, r))
    }),
    ("CreateInvoiceFunction", |a, r| {
        Box::pin(fv_create_invoice::handle(a, r))
    }),
    ("GetInvoiceFunction", |a, r| {
        Box::pin(fv_get_invoice::handle(a, r))
    }),
    ("ReviseInvoiceFunction", |a, r| {
        Box::pin(fv_revise_invoice::handle(a, r))
    }),
    ("IssueInvoiceFunction", |a, r| {
        Box::pin(fv_issue_invoice::handle(a, r))
    }),
    ("ListTasksFunction", |a, r| {
        Box::pin(fv_list_tasks::handle(a, r))
    }),
    ("CompleteTaskFunction", |a, r| {
        Box::pin(fv_complete_task::handle(a, r))
    }),
    ("SnoozeTaskFunction", |a, r| {
        Box::pin(fv_snooze_task::handle(a, r))
    }),
    ("GetTimelineFunction", |a, r| {
        Box::pin(fv_get_timeline::handle(a, r))
    }),
    ("EnrollTotpFunction", |a, r| {
        Box::pin(fv_enroll_totp::handle(a, r))
    }),
    ("ConfirmTotpFunction", |a, r| {
        Box::pin(fv_confirm_totp::handle(a, r))
    }),
    ("StepUpFunction", |a, r| Box::pin(fv_step_up::handle(a, r))),
    ("VoidInvoiceFunction", |a, r| {
        Box::pin(fv_void_invoice::handle(a, r))
    }),
    ("StartCheckoutFunction", |a, r| {
        Box::pin(fv_start_checkout::handle(a, r))
    }),
    ("PaymentWebhookFunction", |a, r| {
        Box::pin(fv_payment_webhook::handle(a, r))
    }),
    ("RecordPaymentFunction", |a, r| {
        Box::pin(fv_record_payment::handle(a, r))
    }),
    ("GetPaymentFunction", |a, r| {
        Box::pin(fv_get_payment::handle(a, r))
    }),
    ("RefundPaymentFunction", |a, r| {
        Box::pin(fv_refund_payment::handle(a, r))
    }),
    ("CreateEvidenceUploadFunction", |a, r| {
        Box::pin(fv_create_evidence_upload::handle(a, r))
    }),
    ("ListEvidenceFunction", |a, r| {
        Box::pin(fv_list_evidence::handle(a, r))
    }),
    ("DownloadEvidenceFunction", |a, r| {
        Box::pin(fv_download_evidence::handle(a, r))
    }),
    ("TelephonyWebhookFunction", |a, r| {
        Box::pin(fv_telephony_webhook::handle(a, r))
    }),
    ("ListCallsFunction", |a, r| {
        Box::pin(fv_list_calls::handle(a, r))
    }),
    ("IssueCreditNoteFunction", |a, r| {
        Box::pin(fv_issue_credit_note::handle(a, r))
    }),
    ("InviteUserFunction", |a, r| {
        Box::pin(fv_invite_user::handle(a, r))
    }),
    ("ChangeUserRoleFunction", |a, r| {
        Box::pin(fv_change_user_role::handle(a, r))
    }),
    ("DisableUserFunction", |a, r| {
        Box::pin(fv_disable_user::handle(a, r))
    }),
    ("EnableUserFunction", |a, r| {
        Box::pin(fv_enable_user::handle(a, r))
    }),
    ("ResetUserMfaFunction", |a, r| {
        Box::pin(fv_reset_user_mfa::handle(a, r))
    }),
    ("ExportLedgerFunction", |a, r| {
        Box::pin(fv_export_ledger::handle(a, r))
    }),
    ("SendInvoiceFunction", |a, r| {
        Box::pin(fv_send_invoice::handle(a, r))
    }),
    ("RevokeLinkFunction", |a, r| {
        Box::pin(fv_revoke_link::handle(a, r))
    }),
    ("CreatePortalSignInFunction", |a, r| {
        Box::pin(fv_create_portal_sign_in::handle(a, r))
    }),
    ("PortalPageFunction", |a, r| {
        Box::pin(fv_portal_page::handle(a, r))
    }),
    ("PortalActionFunction", |a, r| {
        Box::pin(fv_portal_action::handle(a, r))
    }),
    ("PutHrRecordFunction", |a, r| {
        Box::pin(fv_put_hr_record::handle(a, r))
    }),
    ("GetHrRecordFunction", |a, r| {
        Box::pin(fv_get_hr_record::handle(a, r))
    }),
    ("GetOpenApiFunction", |a, r| {
        Box::pin(fv_get_openapi::handle(a, r))
    }),
];

pub fn handler_for(function: &str) -> Option<Handler> {
    HANDLERS
        .iter()
        .find(|(f, _)| *f == function)
        .map(|(_, h)| *h)
}
