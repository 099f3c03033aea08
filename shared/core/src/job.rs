//! Jobs: the work, created from an approved estimate option (its scope, never its prices) or
//! directly; visits with time windows, assigned to technicians, who move their own visits
//! en route → on site → done. Jobs are never deleted: they are completed or canceled with a
//! reason.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{
    CustomerId, EstimateId, IdSource, JobId, LocationId, OptionId, TenantId, UserId, VisitId,
};
use crate::keys;
use crate::problem::{ApiError, FieldError};
use crate::store::{Condition, Item, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Unscheduled,
    Scheduled,
    InProgress,
    Completed,
    OnHold,
    Canceled,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum VisitStatus {
    Planned,
    EnRoute,
    OnSite,
    Done,
}

/// What the job covers: descriptions and quantities, no prices (technicians read jobs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeItem {
    pub description: String,
    pub quantity: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VisitNote {
    pub by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub at: OffsetDateTime,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Visit {
    pub id: VisitId,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub window_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub window_end: OffsetDateTime,
    pub technician: Option<UserId>,
    pub status: VisitStatus,
    pub notes: Vec<VisitNote>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Job {
    pub id: JobId,
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub location_id: Option<LocationId>,
    pub estimate_id: Option<EstimateId>,
    pub option_id: Option<OptionId>,
    pub title: String,
    pub scope: Vec<ScopeItem>,
    pub status: JobStatus,
    /// Why the job is on hold or canceled.
    pub status_reason: Option<String>,
    pub visits: Vec<Visit>,
    /// Technicians with a visit on this job (derived from the visits).
    pub assigned_technicians: Vec<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub created_at: OffsetDateTime,
    pub created_by: UserId,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    pub customer_id: CustomerId,
    #[serde(default)]
    pub location_id: Option<LocationId>,
    /// Create from this approved estimate's approved option (copies its scope and title).
    #[serde(default)]
    pub estimate_id: Option<EstimateId>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub scope: Vec<ScopeItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVisit {
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub window_start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub window_end: OffsetDateTime,
    #[serde(default)]
    pub technician_id: Option<UserId>,
}

/// A change to a visit; `technician_id: null` unassigns, absent leaves it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitUpdate {
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<crate::schema::DateTime>")]
    pub window_start: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<crate::schema::DateTime>")]
    pub window_end: Option<OffsetDateTime>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<crate::ids::UserId>")]
    pub technician_id: Option<Option<UserId>>,
}

/// Tells `null` (Some(None)) from an absent field (None).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<UserId>>, D::Error> {
    Option::<UserId>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitProgress {
    pub status: VisitStatus,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatusChange {
    OnHold,
    Resume,
    Completed,
    Canceled,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeJobStatus {
    pub status: JobStatusChange,
    #[serde(default)]
    pub reason: Option<String>,
}

fn conflict(msg: &str) -> ApiError {
    ApiError::Conflict(msg.into())
}

fn text(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let v = value.trim().to_owned();
    if v.is_empty() || v.chars().count() > max {
        errors.push(FieldError {
            field: field.into(),
            message: format!("is required, at most {max} characters"),
        });
    }
    v
}

impl Job {
    /// A job from parts already checked by the caller: the customer, and for a job from an
    /// estimate, the approved option's title, scope and id.
    pub fn create(
        input: &NewJob,
        from_estimate: Option<(&str, Vec<ScopeItem>, OptionId)>,
        tenant: &TenantId,
        by: &UserId,
        now: OffsetDateTime,
        ids: &dyn IdSource,
    ) -> Result<Job, ApiError> {
        let (title, scope, option_id) = match from_estimate {
            Some((t, scope, option)) => (input.title.as_deref().unwrap_or(t), scope, Some(option)),
            None => (
                input.title.as_deref().unwrap_or_default(),
                input.scope.clone(),
                None,
            ),
        };
        let mut errors = Vec::new();
        let title = text("title", title, 200, &mut errors);
        if scope.len() > 100 {
            errors.push(FieldError {
                field: "scope".into(),
                message: "at most 100 items".into(),
            });
        }
        let scope = scope
            .iter()
            .enumerate()
            .map(|(i, s)| ScopeItem {
                description: text(
                    &format!("scope[{i}].description"),
                    &s.description,
                    500,
                    &mut errors,
                ),
                quantity: text(
                    &format!("scope[{i}].quantity"),
                    &s.quantity,
                    20,
                    &mut errors,
                ),
            })
            .collect();
        if !errors.is_empty() {
            return Err(ApiError::BadRequest {
                detail: "the job is invalid".into(),
                errors,
            });
        }
        Ok(Job {
            id: JobId::new(ids.ulid()),
            tenant_id: tenant.clone(),
            customer_id: input.customer_id,
            location_id: input.location_id,
            estimate_id: input.estimate_id,
            option_id,
            title,
            scope,
            status: JobStatus::Unscheduled,
            status_reason: None,
            visits: Vec::new(),
            assigned_technicians: Vec::new(),
            created_at: now,
            created_by: by.clone(),
            version: 1,
        })
    }

    fn next(&self) -> Job {
        let mut j = self.clone();
        j.version += 1;
        j
    }

    fn open_for_work(&self) -> Result<(), ApiError> {
        match self.status {
            JobStatus::Completed | JobStatus::Canceled => Err(conflict("the job is closed")),
            JobStatus::OnHold => Err(conflict("the job is on hold")),
            _ => Ok(()),
        }
    }

    /// Status and technicians follow from the visits while the job is open.
    fn settle(&mut self) {
        let mut techs: Vec<UserId> = self
            .visits
            .iter()
            .filter_map(|v| v.technician.clone())
            .collect();
        techs.sort();
        techs.dedup();
        self.assigned_technicians = techs;
        if matches!(
            self.status,
            JobStatus::Unscheduled | JobStatus::Scheduled | JobStatus::InProgress
        ) {
            self.status = if self.visits.iter().any(|v| {
                matches!(
                    v.status,
                    VisitStatus::EnRoute | VisitStatus::OnSite | VisitStatus::Done
                )
            }) {
                JobStatus::InProgress
            } else if self.visits.is_empty() {
                JobStatus::Unscheduled
            } else {
                JobStatus::Scheduled
            };
        }
    }

    pub fn schedule_visit(&self, v: &NewVisit, ids: &dyn IdSource) -> Result<Job, ApiError> {
        self.open_for_work()?;
        if v.window_end <= v.window_start {
            return Err(ApiError::invalid_field(
                "window_end",
                "must be after window_start",
            ));
        }
        if v.window_end - v.window_start > time::Duration::days(14) {
            return Err(ApiError::invalid_field(
                "window_end",
                "a visit window is at most 14 days",
            ));
        }
        if self.visits.len() >= 50 {
            return Err(conflict("a job has at most 50 visits"));
        }
        let mut j = self.next();
        j.visits.push(Visit {
            id: VisitId::new(ids.ulid()),
            window_start: v.window_start,
            window_end: v.window_end,
            technician: v.technician_id.clone(),
            status: VisitStatus::Planned,
            notes: Vec::new(),
        });
        j.settle();
        Ok(j)
    }

    /// A technician (or the office) moves a visit forward and may add a note.
    pub fn progress_visit(
        &self,
        visit: &VisitId,
        p: &VisitProgress,
        by: &UserId,
        technician_only: bool,
        now: OffsetDateTime,
    ) -> Result<Job, ApiError> {
        self.open_for_work()?;
        let mut j = self.next();
        let v = j
            .visits
            .iter_mut()
            .find(|v| &v.id == visit)
            .ok_or(ApiError::NotFound)?;
        if technician_only && v.technician.as_ref() != Some(by) {
            return Err(ApiError::Forbidden);
        }
        if p.status < v.status {
            return Err(conflict(
                "a visit only moves forward: planned → en_route → on_site → done",
            ));
        }
        if v.status == VisitStatus::Done && p.note.is_none() {
            return Err(conflict("the visit is done"));
        }
        v.status = p.status;
        if let Some(note) = &p.note {
            let note = note.trim();
            if note.is_empty() || note.chars().count() > 4000 {
                return Err(ApiError::invalid_field("note", "is 1 to 4000 characters"));
            }
            v.notes.push(VisitNote {
                by: by.clone(),
                at: now,
                text: note.to_owned(),
            });
        }
        j.settle();
        Ok(j)
    }

    /// The office reschedules or reassigns a visit (`technician_id: null` unassigns).
    pub fn update_visit(&self, visit: &VisitId, u: &VisitUpdate) -> Result<Job, ApiError> {
        self.open_for_work()?;
        let mut j = self.next();
        let v = j
            .visits
            .iter_mut()
            .find(|v| &v.id == visit)
            .ok_or(ApiError::NotFound)?;
        if v.status == VisitStatus::Done {
            return Err(conflict("the visit is done"));
        }
        if let Some(start) = u.window_start {
            v.window_start = start;
        }
        if let Some(end) = u.window_end {
            v.window_end = end;
        }
        if v.window_end <= v.window_start {
            return Err(ApiError::invalid_field(
                "window_end",
                "must be after window_start",
            ));
        }
        if let Some(t) = &u.technician_id {
            v.technician = t.clone();
        }
        j.settle();
        Ok(j)
    }

    pub fn change_status(&self, c: &ChangeJobStatus) -> Result<Job, ApiError> {
        if matches!(self.status, JobStatus::Completed | JobStatus::Canceled) {
            return Err(conflict("the job is closed"));
        }
        let reason = c
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        if reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
            return Err(ApiError::invalid_field(
                "reason",
                "is longer than 1000 characters",
            ));
        }
        let mut j = self.next();
        match c.status {
            JobStatusChange::OnHold | JobStatusChange::Canceled if reason.is_none() => {
                return Err(ApiError::invalid_field(
                    "reason",
                    "is required to hold or cancel a job",
                ));
            }
            JobStatusChange::OnHold => {
                if self.status == JobStatus::OnHold {
                    return Err(conflict("the job is already on hold"));
                }
                j.status = JobStatus::OnHold;
                j.status_reason = reason;
            }
            JobStatusChange::Canceled => {
                j.status = JobStatus::Canceled;
                j.status_reason = reason;
            }
            JobStatusChange::Resume => {
                if self.status != JobStatus::OnHold {
                    return Err(conflict("only a job on hold can resume"));
                }
                j.status = JobStatus::Unscheduled;
                j.status_reason = None;
                j.settle();
            }
            JobStatusChange::Completed => {
                if self.visits.iter().any(|v| v.status != VisitStatus::Done) {
                    return Err(conflict(
                        "every visit must be done before the job is completed",
                    ));
                }
                if self.status == JobStatus::OnHold {
                    return Err(conflict("resume the job first"));
                }
                j.status = JobStatus::Completed;
            }
        }
        Ok(j)
    }

    pub fn to_item(&self) -> Item {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => Item::new(),
        }
    }

    pub fn from_item(item: &Item) -> Option<Job> {
        crate::store::record_of(item)
    }

    /// Store this job over `previous` (or as new), keeping each assigned technician's job list
    /// (a copy of the job in their own partition) in step, in the same transaction.
    pub fn writes(&self, previous: Option<&Job>) -> Vec<Write> {
        let mut writes = vec![Write::Put {
            key: keys::job(&self.tenant_id, &self.id),
            index: Some(keys::customer_index(
                &self.tenant_id,
                &self.customer_id,
                keys::CustomerRecord::Job,
                &self.id.to_string(),
            )),
            item: self.to_item(),
            condition: previous
                .map(|p| Condition::VersionIs(p.version))
                .unwrap_or(Condition::NotExists),
        }];
        writes.push(Write::Put {
            key: keys::jobs_list_entry(&self.tenant_id, &self.id),
            index: None,
            item: self.to_item(),
            condition: Condition::None,
        });
        for t in &self.assigned_technicians {
            writes.push(Write::Put {
                key: keys::technician_job(&self.tenant_id, t, &self.id),
                index: None,
                item: self.to_item(),
                condition: Condition::None,
            });
        }
        if let Some(p) = previous {
            for gone in p
                .assigned_technicians
                .iter()
                .filter(|t| !self.assigned_technicians.contains(t))
            {
                writes.push(Write::Delete {
                    key: keys::technician_job(&self.tenant_id, gone, &self.id),
                    condition: Condition::None,
                });
            }
        }
        writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SystemIds;

    fn job() -> Job {
        let input = NewJob {
            customer_id: CustomerId::new(ulid::Ulid::new()),
            location_id: None,
            estimate_id: None,
            title: Some("Fix AC".into()),
            scope: vec![],
        };
        Job::create(
            &input,
            None,
            &TenantId::parse("acme").expect("t"),
            &UserId::parse("d").expect("u"),
            OffsetDateTime::now_utc(),
            &SystemIds,
        )
        .expect("job")
    }

    fn visit(tech: &str) -> NewVisit {
        let start = OffsetDateTime::now_utc();
        NewVisit {
            window_start: start,
            window_end: start + time::Duration::hours(2),
            technician_id: Some(UserId::parse(tech).expect("u")),
        }
    }

    #[test]
    fn visits_drive_the_job_status_and_technicians_move_only_their_own() {
        let j = job();
        assert_eq!(j.status, JobStatus::Unscheduled);
        let j = j
            .schedule_visit(&visit("tech-1"), &SystemIds)
            .expect("visit");
        assert_eq!(j.status, JobStatus::Scheduled);
        assert_eq!(
            j.assigned_technicians,
            vec![UserId::parse("tech-1").expect("u")]
        );
        let vid = j.visits[0].id;
        let other = UserId::parse("tech-2").expect("u");
        let mine = UserId::parse("tech-1").expect("u");
        let go = VisitProgress {
            status: VisitStatus::EnRoute,
            note: None,
        };
        assert_eq!(
            j.progress_visit(&vid, &go, &other, true, OffsetDateTime::now_utc())
                .err(),
            Some(ApiError::Forbidden)
        );
        let j = j
            .progress_visit(&vid, &go, &mine, true, OffsetDateTime::now_utc())
            .expect("en route");
        assert_eq!(j.status, JobStatus::InProgress);
        let back = VisitProgress {
            status: VisitStatus::Planned,
            note: None,
        };
        assert!(matches!(
            j.progress_visit(&vid, &back, &mine, true, OffsetDateTime::now_utc()),
            Err(ApiError::Conflict(_))
        ));
        let early = ChangeJobStatus {
            status: JobStatusChange::Completed,
            reason: None,
        };
        assert!(matches!(
            j.change_status(&early),
            Err(ApiError::Conflict(_))
        ));
        let done = VisitProgress {
            status: VisitStatus::Done,
            note: Some("Replaced capacitor".into()),
        };
        let j = j
            .progress_visit(&vid, &done, &mine, true, OffsetDateTime::now_utc())
            .expect("done");
        let j = j.change_status(&early).expect("complete");
        assert_eq!(j.status, JobStatus::Completed);
        assert!(matches!(
            j.change_status(&ChangeJobStatus {
                status: JobStatusChange::Canceled,
                reason: Some("x".into())
            }),
            Err(ApiError::Conflict(_))
        ));
    }

    #[test]
    fn hold_and_cancel_need_a_reason() {
        let j = job();
        assert!(matches!(
            j.change_status(&ChangeJobStatus {
                status: JobStatusChange::Canceled,
                reason: None
            }),
            Err(ApiError::BadRequest { .. })
        ));
        let held = j
            .change_status(&ChangeJobStatus {
                status: JobStatusChange::OnHold,
                reason: Some("Parts".into()),
            })
            .expect("hold");
        assert!(matches!(
            held.schedule_visit(&visit("t"), &SystemIds),
            Err(ApiError::Conflict(_))
        ));
        let resumed = held
            .change_status(&ChangeJobStatus {
                status: JobStatusChange::Resume,
                reason: None,
            })
            .expect("resume");
        assert_eq!(resumed.status, JobStatus::Unscheduled);
    }

    #[test]
    fn technician_lists_follow_assignments() {
        let j = job()
            .schedule_visit(&visit("tech-1"), &SystemIds)
            .expect("visit");
        assert_eq!(
            j.writes(None).len(),
            3,
            "job + the office list copy + the technician's copy"
        );
        let mut moved = j.clone();
        moved.visits[0].technician = Some(UserId::parse("tech-2").expect("u"));
        moved.settle();
        let w = moved.writes(Some(&j));
        assert!(
            w.iter().any(|w| matches!(w, Write::Delete { .. })),
            "tech-1's copy goes"
        );
    }
}

/// Loading and saving jobs for the job functions.
pub mod store {
    use super::Job;
    use crate::actions::Action;
    use crate::authz::Resource;
    use crate::caller::Role;
    use crate::customer::Customer;
    use crate::ids::{JobId, UserId};
    use crate::keys;
    use crate::problem::ApiError;
    use crate::request::{store_error, Ctx};
    use crate::store::{Condition, TenantStore, Write};
    use crate::user::{UserProfile, UserStatus};

    pub fn resource(j: &Job) -> Resource {
        Resource::Job {
            tenant: j.tenant_id.clone(),
            id: j.id,
            assigned_technicians: j.assigned_technicians.clone(),
        }
    }

    /// Load a job of the caller's tenant and authorize `action` on it.
    pub async fn load<S: TenantStore>(
        cx: &Ctx<'_, S>,
        raw_id: &str,
        action: Action,
    ) -> Result<Job, ApiError> {
        let id = JobId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
        let job: Job = cx
            .get(&keys::job(&cx.caller.tenant, &id))
            .await?
            .ok_or(ApiError::NotFound)?;
        cx.authorize(action, &resource(&job)).await?;
        Ok(job)
    }

    /// Newly assigned technicians must be active technicians of this tenant; they are added to
    /// the customer's technicians (so they can read the customer) in the same transaction.
    async fn assignment_writes<S: TenantStore>(
        cx: &Ctx<'_, S>,
        before: Option<&Job>,
        after: &Job,
    ) -> Result<Vec<Write>, ApiError> {
        let new: Vec<&UserId> = after
            .assigned_technicians
            .iter()
            .filter(|t| before.is_none_or(|b| !b.assigned_technicians.contains(t)))
            .collect();
        if new.is_empty() {
            return Ok(Vec::new());
        }
        for t in &new {
            let profile: Option<UserProfile> = cx
                .store
                .get(&keys::user(&cx.caller.tenant, t))
                .await
                .map_err(store_error)?
                .and_then(|i| serde_json::from_value(serde_json::Value::Object(i)).ok());
            if !profile
                .is_some_and(|p| p.role == Role::Technician && p.status == UserStatus::Active)
            {
                return Err(ApiError::invalid_field(
                    "technician_id",
                    "is not an active technician of this shop",
                ));
            }
        }
        let key = keys::customer(&cx.caller.tenant, &after.customer_id);
        let mut customer = cx
            .store
            .get_record::<Customer>(&key)
            .await
            .map_err(store_error)?
            .ok_or(ApiError::Conflict("the job's customer is gone".into()))?;
        let previous = customer.version;
        for t in new {
            if !customer.assigned_technicians.contains(t) {
                customer.assigned_technicians.push(t.clone());
            }
        }
        customer.version += 1;
        Ok(vec![Write::Put {
            key,
            index: Some(keys::customers_index(
                &customer.tenant_id,
                &customer.name,
                &customer.id,
            )),
            item: customer.to_item(),
            condition: Condition::VersionIs(previous),
        }])
    }

    /// Store `after` over `before` (or as new), with `extra` writes, audited, in one transaction.
    pub async fn save<S: TenantStore>(
        cx: &Ctx<'_, S>,
        action: Action,
        before: Option<&Job>,
        after: &Job,
        extra: Vec<Write>,
    ) -> Result<(), ApiError> {
        let mut writes = after.writes(before);
        writes.extend(crate::task::for_job(before, after, cx.now()));
        writes.extend(extra);
        writes.extend(assignment_writes(cx, before, after).await?);
        let resource = format!("job/{}", after.id);
        cx.commit_change(action, &resource, writes, before, after, "job")
            .await
    }
}
