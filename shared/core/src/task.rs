//! Tasks: what's next. Each is derived from a state change and written in the same
//! transaction as that change (a lead to contact, a sent estimate to chase, an approved
//! estimate to schedule, a finished job to invoice and to ask a review for, an issued invoice
//! to collect), so the list is always exactly the open work. A task's id names its kind and
//! its subject, so the change that settles it can remove it without looking it up.
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::caller::Role;
use crate::estimate::{Estimate, EstimateStatus};
use crate::ids::{CustomerId, TenantId, UserId};
use crate::invoice::{Invoice, InvoiceStatus};
use crate::job::{Job, JobStatus};
use crate::keys;
use crate::problem::ApiError;
use crate::store::{Condition, Item, Write};

/// A sent estimate nobody answered for this long needs a follow-up.
pub const ESTIMATE_FOLLOW_UP_AFTER: Duration = Duration::days(3);
/// How soon a new lead should be contacted.
pub const LEAD_FOLLOW_UP_WITHIN: Duration = Duration::hours(1);
/// When to ask for a review after a job is completed.
pub const REVIEW_AFTER: Duration = Duration::days(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    FollowUpLead,
    EstimateFollowUp,
    ScheduleJob,
    InvoiceJob,
    RequestReview,
    CollectPayment,
}

impl TaskKind {
    pub const ALL: [TaskKind; 6] = [
        TaskKind::FollowUpLead,
        TaskKind::EstimateFollowUp,
        TaskKind::ScheduleJob,
        TaskKind::InvoiceJob,
        TaskKind::RequestReview,
        TaskKind::CollectPayment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::FollowUpLead => "follow_up_lead",
            TaskKind::EstimateFollowUp => "estimate_follow_up",
            TaskKind::ScheduleJob => "schedule_job",
            TaskKind::InvoiceJob => "invoice_job",
            TaskKind::RequestReview => "request_review",
            TaskKind::CollectPayment => "collect_payment",
        }
    }

    /// Whose list a task is on: the office works leads, estimates, scheduling and reviews;
    /// accounting works invoicing and collection; technicians get none (their list is jobs).
    pub fn shown_to(self, role: Role) -> bool {
        match role {
            Role::Owner | Role::Admin => true,
            Role::Dispatcher => matches!(
                self,
                TaskKind::FollowUpLead
                    | TaskKind::EstimateFollowUp
                    | TaskKind::ScheduleJob
                    | TaskKind::RequestReview
            ),
            Role::Accounting => matches!(self, TaskKind::InvoiceJob | TaskKind::CollectPayment),
            Role::Technician | Role::PaymentProvider | Role::Customer | Role::TelephonyProvider => {
                false
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Task {
    /// `<kind>:<subject id>`.
    pub id: String,
    pub tenant_id: TenantId,
    pub kind: TaskKind,
    pub status: TaskStatus,
    /// The lead, estimate, job or invoice the task is about.
    pub subject_id: String,
    pub customer_id: CustomerId,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub due_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<crate::schema::DateTime>")]
    pub snoozed_until: Option<OffsetDateTime>,
    /// Derived on read: due (or snoozed) time has passed.
    #[serde(default)]
    pub overdue: bool,
    #[serde(default)]
    pub done_by: Option<UserId>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<crate::schema::DateTime>")]
    pub done_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeTask {
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub until: OffsetDateTime,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Task {
    pub fn open(
        kind: TaskKind,
        subject: &str,
        tenant: &TenantId,
        customer: CustomerId,
        due_at: OffsetDateTime,
    ) -> Task {
        Task {
            id: format!("{}:{subject}", kind.as_str()),
            tenant_id: tenant.clone(),
            kind,
            status: TaskStatus::Open,
            subject_id: subject.to_owned(),
            customer_id: customer,
            due_at,
            snoozed_until: None,
            overdue: false,
            done_by: None,
            done_at: None,
        }
    }

    /// Parse `<kind>:<subject>` into its parts.
    pub fn parse_id(raw: &str) -> Option<(TaskKind, &str)> {
        let (kind, subject) = raw.split_once(':')?;
        let kind = TaskKind::ALL.into_iter().find(|k| k.as_str() == kind)?;
        let ok =
            (1..=40).contains(&subject.len()) && subject.chars().all(|c| c.is_ascii_alphanumeric());
        ok.then_some((kind, subject))
    }

    /// When the task next wants attention.
    pub fn effective_due(&self) -> OffsetDateTime {
        self.snoozed_until.unwrap_or(self.due_at)
    }

    pub fn view(mut self, now: OffsetDateTime) -> Task {
        self.overdue = self.status == TaskStatus::Open && self.effective_due() < now;
        self
    }

    /// Open tasks sit in the tenant's open-task index by due time; done ones leave it.
    pub fn put(&self) -> Write {
        let index = (self.status == TaskStatus::Open).then(|| {
            keys::open_tasks_index(&self.tenant_id, &rfc3339(self.effective_due()), &self.id)
        });
        let item = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Item::new(),
        };
        Write::Put {
            key: keys::task(&self.tenant_id, self.kind.as_str(), &self.subject_id),
            index,
            item,
            condition: Condition::None,
        }
    }

    pub fn remove(tenant: &TenantId, kind: TaskKind, subject: &str) -> Write {
        Write::Delete {
            key: keys::task(tenant, kind.as_str(), subject),
            condition: Condition::None,
        }
    }

    pub fn from_item(item: &Item) -> Option<Task> {
        crate::store::record_of(item)
    }

    pub fn complete(&self, by: &UserId, now: OffsetDateTime) -> Result<Task, ApiError> {
        if self.status != TaskStatus::Open {
            return Err(ApiError::Conflict("the task is already done".into()));
        }
        let mut t = self.clone();
        t.status = TaskStatus::Done;
        t.done_by = Some(by.clone());
        t.done_at = Some(now);
        Ok(t)
    }

    pub fn snooze(&self, until: OffsetDateTime, now: OffsetDateTime) -> Result<Task, ApiError> {
        if self.status != TaskStatus::Open {
            return Err(ApiError::Conflict("the task is already done".into()));
        }
        if until <= now || until > now + Duration::days(90) {
            return Err(ApiError::invalid_field(
                "until",
                "must be in the next 90 days",
            ));
        }
        let mut t = self.clone();
        t.snoozed_until = Some(until);
        Ok(t)
    }
}

/// Task writes that follow from an estimate changing from `before` to `after`.
pub fn for_estimate(
    before: Option<&Estimate>,
    after: &Estimate,
    now: OffsetDateTime,
) -> Vec<Write> {
    let id = after.id.to_string();
    let t = &after.tenant_id;
    let was = before.map(|b| b.status);
    let mut writes = Vec::new();
    match after.status {
        EstimateStatus::Sent if was != Some(EstimateStatus::Sent) => {
            writes.push(
                Task::open(
                    TaskKind::EstimateFollowUp,
                    &id,
                    t,
                    after.customer_id,
                    now + ESTIMATE_FOLLOW_UP_AFTER,
                )
                .put(),
            );
        }
        EstimateStatus::Approved => {
            writes.push(Task::remove(t, TaskKind::EstimateFollowUp, &id));
            writes.push(Task::open(TaskKind::ScheduleJob, &id, t, after.customer_id, now).put());
        }
        EstimateStatus::Declined | EstimateStatus::Draft if was == Some(EstimateStatus::Sent) => {
            writes.push(Task::remove(t, TaskKind::EstimateFollowUp, &id));
        }
        _ => {}
    }
    writes
}

/// Task writes that follow from a job changing.
pub fn for_job(before: Option<&Job>, after: &Job, now: OffsetDateTime) -> Vec<Write> {
    let t = &after.tenant_id;
    let id = after.id.to_string();
    let mut writes = Vec::new();
    if before.is_none() {
        if let Some(estimate) = after.estimate_id {
            writes.push(Task::remove(
                t,
                TaskKind::ScheduleJob,
                &estimate.to_string(),
            ));
        }
    }
    if after.status == JobStatus::Completed
        && before.is_some_and(|b| b.status != JobStatus::Completed)
    {
        writes.push(Task::open(TaskKind::InvoiceJob, &id, t, after.customer_id, now).put());
        writes.push(
            Task::open(
                TaskKind::RequestReview,
                &id,
                t,
                after.customer_id,
                now + REVIEW_AFTER,
            )
            .put(),
        );
    }
    writes
}

/// Task writes that follow from an invoice changing.
/// "Collect payment" on an issued invoice, due when the invoice is.
fn collect_payment_task(invoice: &Invoice) -> Option<Write> {
    let (due, issued) = (invoice.due_date?, invoice.issued_at?);
    let due_at = due.with_time(issued.time()).assume_utc();
    Some(
        Task::open(
            TaskKind::CollectPayment,
            &invoice.id.to_string(),
            &invoice.tenant_id,
            invoice.customer_id,
            due_at,
        )
        .put(),
    )
}

pub fn for_invoice(before: Option<&Invoice>, after: &Invoice) -> Vec<Write> {
    let t = &after.tenant_id;
    let mut writes = Vec::new();
    if before.is_none() {
        if let Some(job) = after.job_id {
            writes.push(Task::remove(t, TaskKind::InvoiceJob, &job.to_string()));
        }
    }
    if after.status == InvoiceStatus::Void {
        writes.push(Task::remove(
            t,
            TaskKind::CollectPayment,
            &after.id.to_string(),
        ));
    }
    if after.status == InvoiceStatus::Issued
        && before.is_some_and(|b| b.status == InvoiceStatus::Draft)
    {
        writes.extend(collect_payment_task(after));
    }
    // Payments and credit notes settle an issued invoice (its collection task goes); a refund
    // can make it owe again (the task comes back, due when the invoice was).
    if let Some(b) = before.filter(|b| b.status == InvoiceStatus::Issued) {
        if after.status == InvoiceStatus::Issued {
            let (owed_before, owed_after) = (b.balance() > 0, after.balance() > 0);
            if owed_before && !owed_after {
                writes.push(Task::remove(
                    t,
                    TaskKind::CollectPayment,
                    &after.id.to_string(),
                ));
            } else if !owed_before && owed_after {
                writes.extend(collect_payment_task(after));
            }
        }
    }
    writes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_refuse_junk() {
        assert_eq!(
            Task::parse_id("schedule_job:01ABC"),
            Some((TaskKind::ScheduleJob, "01ABC"))
        );
        assert_eq!(Task::parse_id("nope:01ABC"), None);
        assert_eq!(Task::parse_id("schedule_job:../x"), None);
        assert_eq!(Task::parse_id("schedule_job"), None);
    }

    #[test]
    fn lists_are_shaped_by_role() {
        assert!(TaskKind::ALL.iter().all(|k| !k.shown_to(Role::Technician)));
        assert!(TaskKind::CollectPayment.shown_to(Role::Accounting));
        assert!(!TaskKind::CollectPayment.shown_to(Role::Dispatcher));
        assert!(TaskKind::ALL.iter().all(|k| k.shown_to(Role::Owner)));
    }

    #[test]
    fn snoozing_moves_the_due_time_and_overdue_is_derived() {
        let now = OffsetDateTime::now_utc();
        let t = Task::open(
            TaskKind::FollowUpLead,
            "01A",
            &TenantId::parse("acme").expect("t"),
            CustomerId::new(ulid::Ulid::new()),
            now - Duration::hours(1),
        );
        assert!(t.clone().view(now).overdue);
        let later = t.snooze(now + Duration::hours(2), now).expect("snooze");
        assert!(!later.clone().view(now).overdue);
        assert!(t.snooze(now - Duration::hours(1), now).is_err());
        let done = later
            .complete(&UserId::parse("u").expect("u"), now)
            .expect("done");
        assert!(
            matches!(done.put(), Write::Put { index: None, .. }),
            "done tasks leave the open list"
        );
        assert!(done.complete(&UserId::parse("u").expect("u"), now).is_err());
    }
}

/// Loading and saving tasks for the task functions.
pub mod store {
    use super::Task;
    use crate::actions::Action;
    use crate::authz::Resource;
    use crate::keys;
    use crate::problem::ApiError;
    use crate::request::Ctx;
    use crate::store::TenantStore;

    /// A task of the caller's tenant, of a kind the caller's role works (else 404), authorized.
    pub async fn load<S: TenantStore>(
        cx: &Ctx<'_, S>,
        raw_id: &str,
        action: Action,
    ) -> Result<Task, ApiError> {
        let (kind, subject) = Task::parse_id(raw_id).ok_or(ApiError::NotFound)?;
        let t = &cx.caller.tenant;
        let task: Task = cx
            .get(&keys::task(t, kind.as_str(), subject))
            .await?
            .filter(|task: &Task| task.kind.shown_to(cx.caller.role))
            .ok_or(ApiError::NotFound)?;
        cx.authorize(
            action,
            &Resource::Record {
                tenant: t.clone(),
                kind: "Task",
                id: task.id.clone(),
            },
        )
        .await?;
        Ok(task)
    }

    pub async fn save<S: TenantStore>(
        cx: &Ctx<'_, S>,
        action: Action,
        before: &Task,
        after: &Task,
    ) -> Result<(), ApiError> {
        let resource = format!("task/{}", after.id);
        cx.commit_change(
            action,
            &resource,
            vec![after.put()],
            Some(before),
            after,
            "task",
        )
        .await
    }
}
