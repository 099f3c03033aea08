//! `POST /intake`: a call, form or campaign lead. Matches the customer by phone or email (or
//! creates one), records the lead and a follow-up task: one transaction, one audit record.
use fieldvault_aws::app::{json_body, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::customer::{Customer, NewCustomer, ServiceLocationInput};
use fieldvault_core::ids::{CustomerId, LeadId};
use fieldvault_core::intake::{Intake, IntakeInput, Lead, LeadStatus};
use fieldvault_core::keys;
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::routes::IntakeResult;
use fieldvault_core::store::{StoreError, TenantStore};
use fieldvault_core::task::{Task, TaskKind, LEAD_FOLLOW_UP_WITHIN};
use lambda_http::Request;

fieldvault_aws::handler!(intake_http, idempotent);

async fn intake_http<S: TenantStore>(cx: &Ctx<'_, S>, req: &Request) -> Result<Reply, ApiError> {
    cx.authorize(Action::Intake, &Resource::Tenant(cx.caller.tenant.clone()))
        .await?;
    let input: IntakeInput = json_body(req)?;
    Reply::created(&intake(cx, &input).await?)
}

/// The customer that already owns one of these contact points, phone first.
async fn find_customer<S: TenantStore>(
    cx: &Ctx<'_, S>,
    intake: &Intake,
) -> Result<Option<Customer>, ApiError> {
    let t = &cx.caller.tenant;
    for p in &intake.contact_points {
        let Some(lookup) = cx
            .store
            .get(&keys::contact_lookup(t, p.kind.as_str(), &p.value))
            .await
            .map_err(store_error)?
        else {
            continue;
        };
        let Some(id) = lookup
            .get("customer_id")
            .and_then(|v| v.as_str())
            .and_then(|s| CustomerId::parse(s).ok())
        else {
            continue;
        };
        if let Some(c) = cx
            .store
            .get(&keys::customer(t, &id))
            .await
            .map_err(store_error)?
            .as_ref()
            .and_then(Customer::from_item)
        {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

pub async fn intake<S: TenantStore>(
    cx: &Ctx<'_, S>,
    input: &IntakeInput,
) -> Result<IntakeResult, ApiError> {
    let parsed = Intake::parse(input)?;
    // Two tries: if a concurrent intake created the same customer between our lookup and our
    // write, the contact-lookup condition fails and the second try matches that customer.
    for attempt in 0..2 {
        let existing = find_customer(cx, &parsed).await?;
        let matched = existing.is_some();
        let (customer, mut writes) = match existing {
            Some(c) => (c, Vec::new()),
            None => {
                let new = NewCustomer {
                    name: parsed.name.clone(),
                    kind: fieldvault_core::customer::CustomerKind::Residential,
                    company: None,
                    contact_points: parsed.contact_points.clone(),
                    service_locations: parsed
                        .service_address
                        .iter()
                        .map(|a| ServiceLocationInput {
                            id: None,
                            label: None,
                            address: a.clone(),
                            access_notes: None,
                        })
                        .collect(),
                    notes: None,
                };
                let c =
                    Customer::create(&new, &cx.caller.tenant, &cx.caller.user, cx.now(), cx.ids)?;
                let w = c.creation_writes();
                (c, w)
            }
        };
        let lead = Lead {
            id: LeadId::new(cx.ids.ulid()),
            tenant_id: cx.caller.tenant.clone(),
            customer_id: customer.id,
            source: parsed.source,
            campaign: parsed.campaign.clone(),
            notes: parsed.notes.clone(),
            status: LeadStatus::New,
            created_at: cx.now(),
            created_by: cx.caller.user.clone(),
        };
        let follow_up = Task::open(
            TaskKind::FollowUpLead,
            &lead.id.to_string(),
            &cx.caller.tenant,
            customer.id,
            cx.now() + LEAD_FOLLOW_UP_WITHIN,
        );
        writes.push(lead.write());
        writes.push(follow_up.put());
        let after = serde_json::json!({
            "lead": lead,
            "customer": if matched { serde_json::json!({ "id": customer.id, "matched": true }) } else { serde_json::to_value(&customer).unwrap_or_default() },
            "follow_up": follow_up,
        });
        match cx
            .commit(
                Action::Intake,
                &format!("lead/{}", lead.id),
                writes,
                None,
                Some(&after),
            )
            .await
        {
            Ok(()) => {
                return Ok(IntakeResult {
                    lead,
                    customer,
                    matched_existing_customer: matched,
                    follow_up,
                })
            }
            Err(StoreError::ConditionFailed { .. }) if !matched && attempt == 0 => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(ApiError::Conflict(
        "the contact changed while recording the lead; retry".into(),
    ))
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
