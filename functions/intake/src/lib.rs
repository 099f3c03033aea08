//! `POST /intake`: a call, form or campaign lead. Matches the customer by phone or email (or
//! creates one), records the lead and a follow-up task: one transaction, one audit record.
use fieldvault_aws::app::{json_body, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::intake::store::{record, Recorded};
use fieldvault_core::intake::{Intake, IntakeInput};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::Ctx;
use fieldvault_core::routes::IntakeResult;
use fieldvault_core::store::TenantStore;
use lambda_http::Request;

fieldvault_aws::handler!(intake_http, idempotent);

async fn intake_http<S: TenantStore>(cx: &Ctx<'_, S>, req: &Request) -> Result<Reply, ApiError> {
    cx.authorize(Action::Intake, &Resource::Tenant(cx.caller.tenant.clone()))
        .await?;
    let input: IntakeInput = json_body(req)?;
    Reply::created(&intake(cx, &input).await?)
}

pub async fn intake<S: TenantStore>(
    cx: &Ctx<'_, S>,
    input: &IntakeInput,
) -> Result<IntakeResult, ApiError> {
    let parsed = Intake::parse(input)?;
    match record(cx, &parsed, Action::Intake, |_, _| {
        (Vec::new(), serde_json::Value::Null)
    })
    .await?
    {
        Recorded::Done(result) => Ok(*result),
        // No extra writes were given: no extra condition can fail.
        Recorded::ExtraConflict => Err(ApiError::Internal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldvault_core::caller::Role;
    use fieldvault_core::memory::TestRig;

    fn call(phone: &str) -> IntakeInput {
        serde_json::from_value(serde_json::json!({
            "source": "call",
            "contact": {"name": "Pat", "phone": phone},
            "notes": "No heat upstairs"
        }))
        .expect("valid")
    }

    #[tokio::test]
    async fn second_intake_matches_the_customer_by_phone() {
        let rig = TestRig::new("acme", Role::Dispatcher);
        let first = intake(&rig.ctx(), &call("555 010 0001"))
            .await
            .expect("first");
        assert!(!first.matched_existing_customer);
        let second = intake(&rig.ctx(), &call("+1 (555) 010-0001"))
            .await
            .expect("second");
        assert!(second.matched_existing_customer);
        assert_eq!(second.customer.id, first.customer.id);
        assert_eq!(second.follow_up.subject_id, second.lead.id.to_string());
        assert_eq!(rig.audit_actions().len(), 2);
    }

    #[tokio::test]
    async fn technicians_cannot_take_intake() {
        let rig = TestRig::new("acme", Role::Technician);
        let req = lambda_http::http::Request::builder()
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(serde_json::to_string(&serde_json::json!({"source": "call", "contact": {"name": "P", "phone": "5550100002"}})).expect("json")))
            .expect("request");
        assert_eq!(
            intake_http(&rig.ctx(), &req).await.err(),
            Some(ApiError::Forbidden)
        );
    }
}
