//! `GET /users/{id}/hr`: an employee's HR record, owners only, after an `hr_records` step-up.
//! The read is recorded in the audit trail BEFORE anything is read (`Ctx::audited_read`: no
//! access record, no data). Nothing is decrypted: the answer carries only the last fours,
//! which are stored beside the sealed fields.
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::hr::{HrRecord, HrRecordView};
use fieldvault_core::ids::UserId;
use fieldvault_core::keys;
use fieldvault_core::mfa::ActionClass;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(get_hr_record_http);

async fn get_hr_record_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let target = path_param(req, "id").unwrap_or_default();
    Reply::ok(&get_hr_record(cx, &target).await?)
}

pub async fn get_hr_record<S: TenantStore>(
    cx: &Ctx<'_, S>,
    target: &str,
) -> Result<HrRecordView, ApiError> {
    let c = cx.caller;
    cx.authorize(
        Action::GetHrRecord,
        &Resource::Record {
            tenant: c.tenant.clone(),
            kind: "HrRecord",
            id: target.to_owned(),
        },
    )
    .await?;
    cx.require_step_up(ActionClass::HrRecords).await?;
    let user = UserId::parse(target).map_err(|_| ApiError::NotFound)?;
    let record: Option<HrRecord> = cx
        .audited_read(
            Action::GetHrRecord,
            &format!("hr/{user}"),
            &keys::hr_record(&c.tenant, &user),
        )
        .await?;
    record.map(|r| r.view()).ok_or(ApiError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldvault_core::audit::Outcome;
    use fieldvault_core::caller::Role;
    use fieldvault_core::memory::TestRig;
    use fieldvault_core::mfa::StepUpProof;

    async fn rig(role: Role) -> TestRig {
        let mut rig = TestRig::new("acme", role);
        rig.caller.sign_in_id = Some("sign-in-1".into());
        let proof = StepUpProof {
            action_class: ActionClass::HrRecords,
            sign_in_id: "sign-in-1".into(),
            expires_at: rig.meta.received_at + time::Duration::minutes(5),
        };
        rig.store
            .put_marker(proof.write(&rig.caller.tenant, &rig.caller.user))
            .await
            .expect("proof");
        rig
    }

    #[tokio::test]
    async fn only_owners_read_hr_records_and_denials_are_recorded() {
        for role in Role::ALL {
            let rig = rig(role).await;
            let got = get_hr_record(&rig.ctx(), "emp-1").await;
            if role == Role::Owner {
                assert_eq!(got.err(), Some(ApiError::NotFound), "none stored yet");
                assert_eq!(
                    rig.audit_actions(),
                    vec![("hr.read".to_string(), Outcome::Success)],
                    "even a miss is an audited access"
                );
            } else {
                assert_eq!(got.err(), Some(ApiError::Forbidden), "{role}");
                assert_eq!(
                    rig.audit_actions(),
                    vec![("hr.read".to_string(), Outcome::Denied)]
                );
            }
        }
    }

    #[tokio::test]
    async fn the_access_is_recorded_before_the_read_and_no_record_means_no_read() {
        let first = rig(Role::Owner).await;
        first.store.calls.lock().expect("calls").clear();
        let _ = get_hr_record(&first.ctx(), "emp-1").await;
        let calls = first.store.calls.lock().expect("calls").clone();
        // The step-up proof read, then the access record, then the HR read.
        assert_eq!(calls, vec!["get", "append_audit", "get"]);

        let failing = rig(Role::Owner).await;
        failing
            .store
            .fail_append
            .store(true, std::sync::atomic::Ordering::SeqCst);
        failing.store.calls.lock().expect("calls").clear();
        let got = get_hr_record(&failing.ctx(), "emp-1").await;
        assert!(matches!(got, Err(ApiError::Unavailable(_))), "{got:?}");
        let calls = failing.store.calls.lock().expect("calls").clone();
        assert_eq!(calls, vec!["get", "append_audit"], "nothing was read");
    }

    #[tokio::test]
    async fn a_stale_or_missing_step_up_is_refused_before_any_read() {
        let mut rig = TestRig::new("acme", Role::Owner);
        rig.caller.sign_in_id = Some("s".into());
        let got = get_hr_record(&rig.ctx(), "emp-1").await;
        assert_eq!(got.err(), Some(ApiError::StepUpRequired("hr_records")));
        assert!(rig.audit_actions().is_empty());
    }
}
