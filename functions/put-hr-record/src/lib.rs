//! `PUT /users/{id}/hr`: set an employee's HR record (legal name, tax id, bank details).
//! Owners only (Cedar; the `HR#` key kind is refused to every other session at the data layer
//! too), after an `hr_records` step-up. The tax id and the bank details are sealed (KMS
//! envelope encryption under {tenant, purpose, `hr/<user>`}) before anything is written; the
//! change is audited in its own transaction; the answer carries only the last fours.
use fieldvault_aws::app::{path_param, Reply};
use fieldvault_aws::session::TenantSession;
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::hr::{
    bank_context, tax_id_context, BankDetails, HrRecord, HrRecordInput, HrRecordView, LastFour,
};
use fieldvault_core::ids::UserId;
use fieldvault_core::keys;
use fieldvault_core::mfa::ActionClass;
use fieldvault_core::problem::{parse_json, ApiError};
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::sealed::FieldCipher;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(put_hr_record_http, with_session);

async fn put_hr_record_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
    session: &TenantSession,
) -> Result<Reply, ApiError> {
    let target = path_param(req, "id").unwrap_or_default();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let view = put_hr_record(
        cx,
        &session.fields(),
        &target,
        content_type,
        req.body().as_ref(),
    )
    .await?;
    Reply::ok(&view)
}

/// The policy's resource for one employee's HR record.
pub fn hr_resource(cx_tenant: &fieldvault_core::ids::TenantId, target: &str) -> Resource {
    Resource::Record {
        tenant: cx_tenant.clone(),
        kind: "HrRecord",
        id: target.to_owned(),
    }
}

/// Authorize, step-up, parse (only then: a refused caller's body is never read), seal, commit.
pub async fn put_hr_record<S: TenantStore, C: FieldCipher>(
    cx: &Ctx<'_, S>,
    cipher: &C,
    target: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<HrRecordView, ApiError> {
    let c = cx.caller;
    cx.authorize(Action::PutHrRecord, &hr_resource(&c.tenant, target))
        .await?;
    cx.require_step_up(ActionClass::HrRecords).await?;
    let input: HrRecordInput = parse_json(content_type, body)?;
    let valid = input.validate()?;
    let user = UserId::parse(target).map_err(|_| ApiError::NotFound)?;
    // Only users of the caller's tenant have HR records (the key is the tenant's anyway).
    let profile = cx
        .store
        .get(&keys::user(&c.tenant, &user))
        .await
        .map_err(store_error)?;
    if profile.is_none() {
        return Err(ApiError::NotFound);
    }
    let existing: Option<HrRecord> = cx.get(&keys::hr_record(&c.tenant, &user)).await?;
    let sealing = |e: fieldvault_core::sealed::SealError| ApiError::Unavailable(e.to_string());
    let tax_context = tax_id_context(&c.tenant, &user).map_err(|_| ApiError::Internal)?;
    let tax_id = cipher
        .seal(&tax_context, valid.tax_id.as_bytes())
        .await
        .map_err(sealing)?;
    let bank_plain = serde_json::to_vec(&BankDetails {
        routing_number: valid.bank_routing_number.clone(),
        account_number: valid.bank_account_number.clone(),
    })
    .map_err(|_| ApiError::Internal)?;
    let bank_context = bank_context(&c.tenant, &user).map_err(|_| ApiError::Internal)?;
    let bank = cipher
        .seal(&bank_context, &bank_plain)
        .await
        .map_err(sealing)?;
    let record = HrRecord {
        tenant_id: c.tenant.clone(),
        user_id: user.clone(),
        legal_name: valid.legal_name.clone(),
        tax_id,
        tax_id_last4: LastFour::of(&valid.tax_id),
        bank,
        bank_account_last4: LastFour::of(&valid.bank_account_number),
        version: existing.as_ref().map(|e| e.version + 1).unwrap_or(1),
        updated_at: cx.now(),
        updated_by: c.user.clone(),
    };
    let before = existing.as_ref().map(HrRecord::view);
    let after = record.view();
    cx.commit_change(
        Action::PutHrRecord,
        &format!("hr/{user}"),
        vec![record.write(existing.as_ref().map(|e| e.version))],
        before.as_ref(),
        &after,
        "HR record",
    )
    .await?;
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldvault_core::audit::Outcome;
    use fieldvault_core::caller::Role;
    use fieldvault_core::memory::TestRig;
    use fieldvault_core::mfa::StepUpProof;
    use fieldvault_core::sealed::FakeCipher;
    use fieldvault_core::store::{Condition, Item, Write};

    const BODY: &str = r#"{"legal_name": "Pat Doe", "tax_id": "123-45-6789", "bank_routing_number": "011000015", "bank_account_number": "0001234567"}"#;

    /// A rig whose caller signed in and stepped up for HR records, with an employee profile.
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
        let mut profile = Item::new();
        profile.insert("tenant_id".into(), "acme".into());
        rig.store
            .put_marker(Write::Put {
                key: keys::user(&rig.caller.tenant, &UserId::parse("emp-1").expect("id")),
                index: None,
                item: profile,
                condition: Condition::None,
            })
            .await
            .expect("profile");
        rig
    }

    fn json() -> Option<&'static str> {
        Some("application/json")
    }

    #[tokio::test]
    async fn only_owners_write_hr_records_and_the_answer_has_only_last_fours() {
        for role in Role::ALL {
            let rig = rig(role).await;
            let got =
                put_hr_record(&rig.ctx(), &FakeCipher, "emp-1", json(), BODY.as_bytes()).await;
            if role != Role::Owner {
                assert_eq!(got.err(), Some(ApiError::Forbidden), "{role}");
                assert_eq!(
                    rig.audit_actions(),
                    vec![("hr.write".to_string(), Outcome::Denied)]
                );
                continue;
            }
            let view = got.expect("owner writes");
            let shown = serde_json::to_string(&view).expect("json");
            assert!(
                shown.contains("\"6789\"") && shown.contains("\"4567\""),
                "{shown}"
            );
            assert!(!shown.contains("123456789") && !shown.contains("0001234567"));
            let stored = rig
                .store
                .get(&keys::hr_record(
                    &rig.caller.tenant,
                    &UserId::parse("emp-1").expect("id"),
                ))
                .await
                .expect("read")
                .expect("stored");
            let stored = serde_json::to_string(&stored).expect("json");
            assert!(stored.contains("\"purpose\":\"hr.tax_id\""), "{stored}");
            assert!(!stored.contains("123456789"));
            // The audit diff names the change, never the identifiers.
            let audit = rig.store.audit.lock().expect("audit").clone();
            let record = audit.last().expect("audited");
            assert_eq!(record.action, "hr.write");
            let diff = serde_json::to_string(&record.changes).expect("json");
            assert!(!diff.contains("123456789") && !diff.contains("0001234567"));
        }
    }

    #[tokio::test]
    async fn hr_writes_need_a_step_up_and_an_existing_user() {
        let rig = rig(Role::Owner).await;
        let mut no_proof = TestRig::new("acme", Role::Owner);
        no_proof.caller.sign_in_id = Some("other-sign-in".into());
        let got = put_hr_record(
            &no_proof.ctx(),
            &FakeCipher,
            "emp-1",
            json(),
            BODY.as_bytes(),
        )
        .await;
        assert_eq!(got.err(), Some(ApiError::StepUpRequired("hr_records")));
        let got = put_hr_record(&rig.ctx(), &FakeCipher, "nobody", json(), BODY.as_bytes()).await;
        assert_eq!(got.err(), Some(ApiError::NotFound));
        let bad = put_hr_record(
            &rig.ctx(),
            &FakeCipher,
            "emp-1",
            json(),
            br#"{"legal_name": "X", "tax_id": "1", "bank_routing_number": "1", "bank_account_number": "1"}"#,
        )
        .await;
        assert!(matches!(bad, Err(ApiError::BadRequest { .. })));
    }
}
