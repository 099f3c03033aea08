//! `POST /customers`: a new customer with contact points and service locations.
use fieldvault_aws::app::{json_body, Reply};
use fieldvault_core::actions::Action;
use fieldvault_core::authz::Resource;
use fieldvault_core::customer::{Customer, NewCustomer};
use fieldvault_core::problem::ApiError;
use fieldvault_core::request::{store_error, Ctx};
use fieldvault_core::store::{StoreError, TenantStore};
use lambda_http::Request;

fieldvault_aws::handler!(create_customer_http, idempotent);

async fn create_customer_http<S: TenantStore>(
    cx: &Ctx<'_, S>,
    req: &Request,
) -> Result<Reply, ApiError> {
    cx.authorize(
        Action::CreateCustomer,
        &Resource::Tenant(cx.caller.tenant.clone()),
    )
    .await?;
    let input: NewCustomer = json_body(req)?;
    Reply::created(&create_customer(cx, &input).await?)
}

/// Create the customer. A phone or email another customer already has is a 409: contact
/// points are unique within a tenant so intake can match callers to customers.
pub async fn create_customer<S: TenantStore>(
    cx: &Ctx<'_, S>,
    input: &NewCustomer,
) -> Result<Customer, ApiError> {
    let customer = Customer::create(input, &cx.caller.tenant, &cx.caller.user, cx.now(), cx.ids)?;
    let after = serde_json::to_value(&customer).map_err(|_| ApiError::Internal)?;
    match cx
        .commit(
            Action::CreateCustomer,
            &format!("customer/{}", customer.id),
            customer.creation_writes(),
            None,
            Some(&after),
        )
        .await
    {
        Ok(()) => Ok(customer),
        Err(StoreError::ConditionFailed { index }) if index > 0 => Err(ApiError::Conflict(
            "another customer already has one of these phone numbers or emails".into(),
        )),
        Err(e) => Err(store_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldvault_core::audit::Outcome;
    use fieldvault_core::caller::Role;
    use fieldvault_core::memory::TestRig;
    use std::sync::atomic::Ordering;

    fn input(phone: &str) -> NewCustomer {
        serde_json::from_value(serde_json::json!({
            "name": "Pat Doe",
            "contact_points": [{"kind": "phone", "value": phone, "sms_consent": true}]
        }))
        .expect("valid input")
    }

    #[tokio::test]
    async fn creates_with_audit_and_refuses_duplicate_contacts() {
        let rig = TestRig::new("acme", Role::Dispatcher);
        let c = create_customer(&rig.ctx(), &input("5551230000"))
            .await
            .expect("created");
        assert_eq!(c.tenant_id.as_str(), "acme");
        assert_eq!(
            rig.audit_actions(),
            vec![("customer.create".to_string(), Outcome::Success)]
        );
        let again = create_customer(&rig.ctx(), &input("(555) 123-0000")).await;
        assert!(matches!(again, Err(ApiError::Conflict(_))));
    }

    #[tokio::test]
    async fn technicians_and_accounting_cannot_create_and_are_refused_before_the_body_is_read() {
        for role in [Role::Technician, Role::Accounting] {
            let rig = TestRig::new("acme", role);
            let req = lambda_http::http::Request::builder()
                .header("content-type", "application/json")
                .body(lambda_http::Body::from("{not json"))
                .expect("request");
            let got = create_customer_http(&rig.ctx(), &req).await;
            assert_eq!(got.err(), Some(ApiError::Forbidden));
            assert_eq!(
                rig.audit_actions(),
                vec![("customer.create".to_string(), Outcome::Denied)]
            );
        }
    }

    #[tokio::test]
    async fn a_failed_audit_write_refuses_the_change() {
        let rig = TestRig::new("acme", Role::Owner);
        rig.store.fail_audit.store(true, Ordering::SeqCst);
        let got = create_customer(&rig.ctx(), &input("5551230002")).await;
        assert!(matches!(got, Err(ApiError::Unavailable(_))));
        assert!(rig.audit_actions().is_empty());
    }
}
