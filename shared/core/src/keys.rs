//! The one place that builds DynamoDB keys.
//!
//! Every partition key, of the table and of every index, starts with `T#<tenant>#<KIND>`,
//! so IAM's `dynamodb:LeadingKeys` can confine a session to its tenant and tell kinds apart
//! (billing kinds are refused to technicians below the application).
use sha2::{Digest, Sha256};

use crate::ids::{
    AuditId, CreditNoteId, CustomerId, EstimateId, EvidenceId, InvoiceId, JobId, LeadId, PaymentId,
    TenantId, UserId,
};

/// Attribute names of the data table's keys and its one index.
pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
/// Every item also names its tenant as a plain attribute.
pub const TENANT_ATTR: &str = "tenant_id";

/// A primary key: partition and sort.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

/// A secondary-index entry for list views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

fn prefix(t: &TenantId, kind: &str) -> String {
    format!("T#{t}#{kind}")
}

pub fn tenant_profile(t: &TenantId) -> Key {
    Key {
        pk: prefix(t, "TENANT"),
        sk: "PROFILE".into(),
    }
}

pub fn user(t: &TenantId, u: &UserId) -> Key {
    Key {
        pk: prefix(t, &format!("USER#{u}")),
        sk: "PROFILE".into(),
    }
}

/// A user's access state (status, current role, sessions valid after), read on every request.
/// Its own kind, with the user id last in the partition key, so the tenant data role can let
/// every session read only its own (`T#<tenant>#ACCESS#${aws:PrincipalTag/user}`) and only
/// owner/admin sessions write any.
pub fn user_access(t: &TenantId, u: &UserId) -> Key {
    Key {
        pk: prefix(t, &format!("ACCESS#{u}")),
        sk: "ACCESS".into(),
    }
}

/// Users of a tenant, ordered by email.
pub fn users_index(t: &TenantId, email: &str, u: &UserId) -> IndexKey {
    IndexKey {
        pk: users_list(t),
        sk: format!("{}#{u}", email.to_lowercase()),
    }
}

pub fn users_list(t: &TenantId) -> String {
    prefix(t, "USERS")
}

pub fn customer(t: &TenantId, c: &CustomerId) -> Key {
    Key {
        pk: prefix(t, &format!("CUST#{c}")),
        sk: "CUSTOMER".into(),
    }
}

/// Customers of a tenant, ordered by display name.
pub fn customers_index(t: &TenantId, sort_name: &str, c: &CustomerId) -> IndexKey {
    IndexKey {
        pk: customers_list(t),
        sk: format!("{}#{c}", sort_name.to_lowercase()),
    }
}

pub fn customers_list(t: &TenantId) -> String {
    prefix(t, "CUSTOMERS")
}

/// Uniqueness and lookup of a customer by phone or email. The value is hashed so keys (which
/// end up in logs and traces) carry no personal data.
pub fn contact_lookup(t: &TenantId, kind: &str, normalized_value: &str) -> Key {
    let digest = Sha256::digest(format!("{kind}:{normalized_value}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    Key {
        pk: prefix(t, &format!("CONTACT#{hex}")),
        sk: "CONTACT".into(),
    }
}

pub fn lead(t: &TenantId, l: &LeadId) -> Key {
    Key {
        pk: prefix(t, &format!("LEAD#{l}")),
        sk: "LEAD".into(),
    }
}

/// The records a customer's index partitions hold. The kind decides the partition: operations
/// (leads, jobs) or billing (estimates, invoices, credit notes, payments), which never share one,
/// so technicians can be refused billing at the data layer. It is also the first part of each
/// entry's sort key (`JOB#<id>`), which says what an entry is without parsing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerRecord {
    Lead,
    Job,
    Estimate,
    Invoice,
    CreditNote,
    Payment,
}

impl CustomerRecord {
    pub const ALL: [CustomerRecord; 6] = [
        CustomerRecord::Lead,
        CustomerRecord::Job,
        CustomerRecord::Estimate,
        CustomerRecord::Invoice,
        CustomerRecord::CreditNote,
        CustomerRecord::Payment,
    ];

    /// The sort key's first part.
    pub fn tag(self) -> &'static str {
        match self {
            CustomerRecord::Lead => "LEAD",
            CustomerRecord::Job => "JOB",
            CustomerRecord::Estimate => "EST",
            CustomerRecord::Invoice => "INV",
            CustomerRecord::CreditNote => "CN",
            CustomerRecord::Payment => "PAY",
        }
    }

    pub fn is_billing(self) -> bool {
        !matches!(self, CustomerRecord::Lead | CustomerRecord::Job)
    }

    /// The kind of an entry listed under this index sort key.
    pub fn of_sort_key(sort_key: &str) -> Option<CustomerRecord> {
        let tag = sort_key.split('#').next()?;
        CustomerRecord::ALL.into_iter().find(|k| k.tag() == tag)
    }
}

/// A customer's record in the customer's operations or billing partition (by its kind).
pub fn customer_index(t: &TenantId, c: &CustomerId, kind: CustomerRecord, id: &str) -> IndexKey {
    IndexKey {
        pk: if kind.is_billing() {
            customer_billing_partition(t, c)
        } else {
            customer_ops_partition(t, c)
        },
        sk: format!("{}#{id}", kind.tag()),
    }
}

/// Operations items of one customer (leads, jobs with their visits), in order.
pub fn customer_ops_partition(t: &TenantId, c: &CustomerId) -> String {
    prefix(t, &format!("C#{c}#OPS"))
}

/// Billing items of one customer (estimates, invoices, credit notes, payments).
pub fn customer_billing_partition(t: &TenantId, c: &CustomerId) -> String {
    prefix(t, &format!("C#{c}#BILLING"))
}

pub fn estimate(t: &TenantId, id: &EstimateId) -> Key {
    Key {
        pk: prefix(t, &format!("EST#{id}")),
        sk: "ESTIMATE".into(),
    }
}

pub fn job(t: &TenantId, id: &JobId) -> Key {
    Key {
        pk: prefix(t, &format!("JOB#{id}")),
        sk: "JOB".into(),
    }
}

/// The office's list of all jobs: a copy of each job in this partition, newest first.
/// (Its own kind, so the data layer can refuse it to technicians.)
pub fn jobs_list_entry(t: &TenantId, id: &JobId) -> Key {
    Key {
        pk: jobs_list(t),
        sk: id.to_string(),
    }
}

pub fn jobs_list(t: &TenantId) -> String {
    prefix(t, "ALLJOBS")
}

/// One technician's assignment to one job: their job list is this partition.
pub fn technician_job(t: &TenantId, technician: &UserId, job: &JobId) -> Key {
    Key {
        pk: technician_jobs(t, technician),
        sk: job.to_string(),
    }
}

pub fn technician_jobs(t: &TenantId, technician: &UserId) -> String {
    prefix(t, &format!("TECH#{technician}#JOBS"))
}

/// One job per estimate: this marker is created with the job.
pub fn estimate_job(t: &TenantId, estimate: &EstimateId) -> Key {
    Key {
        pk: prefix(t, &format!("ESTJOB#{estimate}")),
        sk: "ESTJOB".into(),
    }
}

pub fn invoice(t: &TenantId, id: &InvoiceId) -> Key {
    Key {
        pk: prefix(t, &format!("INV#{id}")),
        sk: "INVOICE".into(),
    }
}

/// The tenant's invoice-number counter (next number to allocate).
pub fn invoice_counter(t: &TenantId) -> Key {
    Key {
        pk: prefix(t, "INV#COUNTER"),
        sk: "COUNTER".into(),
    }
}

/// A credit note (its own kind under `INV#`, so the data layer keeps it from technicians).
pub fn credit_note(t: &TenantId, id: &CreditNoteId) -> Key {
    Key {
        pk: prefix(t, &format!("INV#CN#{id}")),
        sk: "CREDIT".into(),
    }
}

/// The tenant's credit-note counter: its own gapless sequence.
pub fn credit_note_counter(t: &TenantId) -> Key {
    Key {
        pk: prefix(t, "INV#CNCOUNTER"),
        sk: "COUNTER".into(),
    }
}

/// One entry of the tenant's ledger, in the partition of its month (`YYYY-MM`), ordered by
/// time. Under `INV#`, so the data layer keeps it from technicians.
pub fn ledger_entry(t: &TenantId, month: &str, sort: &str) -> Key {
    Key {
        pk: ledger_month(t, month),
        sk: sort.into(),
    }
}

pub fn ledger_month(t: &TenantId, month: &str) -> String {
    prefix(t, &format!("INV#LEDGER#{month}"))
}

/// A customer link, by the SHA-256 of its token (never the token itself).
pub fn link(t: &TenantId, id: &str) -> Key {
    Key {
        pk: prefix(t, &format!("LINK#{id}")),
        sk: "LINK".into(),
    }
}

/// A message waiting to go to a customer.
pub fn outbox(t: &TenantId, id: &str) -> Key {
    Key {
        pk: prefix(t, &format!("OUTBOX#{id}")),
        sk: "MESSAGE".into(),
    }
}

pub fn payment(t: &TenantId, id: &PaymentId) -> Key {
    Key {
        pk: prefix(t, &format!("PAY#{id}")),
        sk: "PAYMENT".into(),
    }
}

/// One payment per provider reference, however it arrives (webhook, manual record): created
/// in the transaction that records the payment.
pub fn payment_reference(t: &TenantId, provider: &str, reference: &str) -> Key {
    Key {
        pk: prefix(t, &format!("PAY#REF#{provider}#{reference}")),
        sk: "REF".into(),
    }
}

/// A provider event already processed (webhook deliveries are at-least-once).
pub fn provider_event(t: &TenantId, provider: &str, event_id: &str) -> Key {
    Key {
        pk: prefix(t, &format!("PAY#EVT#{provider}#{event_id}")),
        sk: "EVENT".into(),
    }
}

/// A task: its kind and subject name it, so the change that settles it can remove it.
pub fn task(t: &TenantId, kind: &str, subject: &str) -> Key {
    Key {
        pk: prefix(t, &format!("TASK#{kind}#{subject}")),
        sk: "TASK".into(),
    }
}

/// Open tasks of a tenant, ordered by due time.
pub fn open_tasks_index(t: &TenantId, due_rfc3339: &str, task_id: &str) -> IndexKey {
    IndexKey {
        pk: open_tasks(t),
        sk: format!("{due_rfc3339}#{task_id}"),
    }
}

pub fn open_tasks(t: &TenantId) -> String {
    prefix(t, "TASKS#OPEN")
}

/// A user's TOTP enrollment.
pub fn mfa(t: &TenantId, u: &UserId) -> Key {
    Key {
        pk: prefix(t, &format!("MFA#{u}")),
        sk: "TOTP".into(),
    }
}

/// An employee's HR record (tax id, bank details). Its own kind, `HR#<user>`, so the tenant
/// data role can refuse it to every session but an owner's (`HrRecordsOwnersOnly`).
pub fn hr_record(t: &TenantId, u: &UserId) -> Key {
    Key {
        pk: prefix(t, &format!("HR#{u}")),
        sk: "HR".into(),
    }
}

/// A user's current step-up proof for one action class.
pub fn step_up(t: &TenantId, u: &UserId, class: &str) -> Key {
    Key {
        pk: prefix(t, &format!("STEPUP#{u}")),
        sk: class.into(),
    }
}

/// An `Idempotency-Key` claim; `scope` is a digest of user, route and key.
pub fn idempotency(t: &TenantId, scope: &str) -> Key {
    Key {
        pk: prefix(t, &format!("IDEM#{scope}")),
        sk: "IDEM".into(),
    }
}

/// Marks that one sign-in (Cognito `origin_jti`) has been recorded.
pub fn sign_in(t: &TenantId, sign_in_id: &str) -> Key {
    let digest = Sha256::digest(sign_in_id.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    Key {
        pk: prefix(t, &format!("SIGNIN#{hex}")),
        sk: "SIGNIN".into(),
    }
}

/// Audit records live in their own table, one partition per tenant, ordered by ULID (time).
pub fn audit(t: &TenantId, id: &AuditId) -> Key {
    Key {
        pk: audit_partition(t),
        sk: id.to_string(),
    }
}

pub fn audit_partition(t: &TenantId) -> String {
    prefix(t, "AUDIT")
}

/// One piece of a job's evidence (photo, video, document). Technicians reach it only through
/// a job assigned to them (the policy decides on the job's technicians).
pub fn evidence(t: &TenantId, id: &EvidenceId) -> Key {
    Key {
        pk: prefix(t, &format!("EVID#{id}")),
        sk: "EVIDENCE".into(),
    }
}

/// A job's evidence, in upload order.
pub fn job_evidence_index(t: &TenantId, job: &JobId, id: &EvidenceId) -> IndexKey {
    IndexKey {
        pk: job_evidence(t, job),
        sk: id.to_string(),
    }
}

pub fn job_evidence(t: &TenantId, job: &JobId) -> String {
    prefix(t, &format!("J#{job}#EVIDENCE"))
}

/// A call, by the telephony provider's call id (a checked token). Everything about calls
/// (the call, its recording and transcript records, event markers, a customer's call list)
/// is under `CALL#`, which technician sessions are refused at the data layer.
pub fn call(t: &TenantId, provider_call_id: &str) -> Key {
    Key {
        pk: prefix(t, &format!("CALL#ID#{provider_call_id}")),
        sk: "CALL".into(),
    }
}

/// A call's recording or transcript record.
pub fn call_evidence(t: &TenantId, id: &EvidenceId) -> Key {
    Key {
        pk: prefix(t, &format!("CALL#EVID#{id}")),
        sk: "EVIDENCE".into(),
    }
}

/// A telephony provider event already processed (deliveries are at-least-once).
pub fn telephony_event(t: &TenantId, event_id: &str) -> Key {
    Key {
        pk: prefix(t, &format!("CALL#EVT#{event_id}")),
        sk: "EVENT".into(),
    }
}

/// A customer's calls, oldest first.
pub fn customer_calls_index(t: &TenantId, c: &CustomerId, sort: &str) -> IndexKey {
    IndexKey {
        pk: customer_calls(t, c),
        sk: sort.into(),
    }
}

pub fn customer_calls(t: &TenantId, c: &CustomerId) -> String {
    prefix(t, &format!("CALL#C#{c}"))
}

/// Where a tenant's objects live in the evidence bucket: the tenant role's S3 statements
/// allow only `tenants/${aws:PrincipalTag/tenant_id}/*`.
pub fn tenant_object_prefix(t: &TenantId) -> String {
    format!("tenants/{t}/")
}

/// A job's evidence object (technician sessions may reach `tenants/*/jobs/*` only).
pub fn job_evidence_object(t: &TenantId, job: &JobId, id: &EvidenceId) -> String {
    format!("{}jobs/{job}/{id}", tenant_object_prefix(t))
}

/// A call's recording or transcript object (refused to technician sessions in S3 too).
pub fn call_object(t: &TenantId, provider_call_id: &str, id: &EvidenceId) -> String {
    format!("{}calls/{provider_call_id}/{id}", tenant_object_prefix(t))
}

/// The tenant that a partition key belongs to, if it is one of ours.
pub fn tenant_of(pk: &str) -> Option<&str> {
    pk.strip_prefix("T#")?.split('#').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_starts_with_its_tenant() {
        let t = TenantId::parse("acme").expect("tenant");
        let c = CustomerId::new(ulid::Ulid::new());
        let u = UserId::parse("u-1").expect("user");
        let keys = [
            tenant_profile(&t).pk,
            user(&t, &u).pk,
            user_access(&t, &u).pk,
            users_index(&t, "A@B.C", &u).pk,
            customer(&t, &c).pk,
            customers_index(&t, "Zed", &c).pk,
            contact_lookup(&t, "email", "a@b.c").pk,
            lead(&t, &LeadId::new(ulid::Ulid::new())).pk,
            customer_index(&t, &c, CustomerRecord::Lead, "x").pk,
            customer_index(&t, &c, CustomerRecord::Invoice, "x").pk,
            task(&t, "follow_up_lead", "01A").pk,
            sign_in(&t, "jti").pk,
            hr_record(&t, &u).pk,
            mfa(&t, &u).pk,
            audit_partition(&t),
            evidence(&t, &EvidenceId::new(ulid::Ulid::new())).pk,
            job_evidence(&t, &JobId::new(ulid::Ulid::new())),
            call(&t, "CA123").pk,
            call_evidence(&t, &EvidenceId::new(ulid::Ulid::new())).pk,
            telephony_event(&t, "evt_1").pk,
            customer_calls(&t, &c),
        ];
        for k in keys {
            assert!(k.starts_with("T#acme#"), "{k}");
            assert_eq!(tenant_of(&k), Some("acme"));
        }
    }

    #[test]
    fn objects_live_under_their_tenants_prefix() {
        let t = TenantId::parse("acme").expect("tenant");
        let id = EvidenceId::new(ulid::Ulid::new());
        let job = JobId::new(ulid::Ulid::new());
        assert!(job_evidence_object(&t, &job, &id).starts_with("tenants/acme/jobs/"));
        assert!(call_object(&t, "CA1", &id).starts_with("tenants/acme/calls/CA1/"));
        assert!(call(&t, "CA1").pk.starts_with("T#acme#CALL#"));
        assert!(customer_calls(&t, &CustomerId::new(ulid::Ulid::new())).starts_with("T#acme#CALL#"));
    }

    #[test]
    fn a_customer_records_kind_decides_its_partition_and_reads_back_from_its_sort_key() {
        let t = TenantId::parse("acme").expect("tenant");
        let c = CustomerId::new(ulid::Ulid::new());
        for kind in CustomerRecord::ALL {
            let ix = customer_index(&t, &c, kind, "01ABC");
            let expected = if kind.is_billing() {
                customer_billing_partition(&t, &c)
            } else {
                customer_ops_partition(&t, &c)
            };
            assert_eq!(ix.pk, expected, "{kind:?}");
            assert_eq!(CustomerRecord::of_sort_key(&ix.sk), Some(kind));
        }
        assert!(customer_billing_partition(&t, &c).ends_with("#BILLING"));
        assert!(customer_ops_partition(&t, &c).ends_with("#OPS"));
        assert_eq!(CustomerRecord::of_sort_key("TASK#1"), None);
        assert_eq!(CustomerRecord::of_sort_key(""), None);
    }

    #[test]
    fn contact_keys_hide_the_value() {
        let t = TenantId::parse("acme").expect("tenant");
        let k = contact_lookup(&t, "email", "someone@example.com");
        assert!(!k.pk.contains("someone"));
        assert_ne!(k, contact_lookup(&t, "phone", "someone@example.com"));
    }
}
