//! Every domain action the API exposes, by one name used in routes, policies and audit.
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Action {
    GetMe,
    ListUsers,
    Intake,
    CreateCustomer,
    GetCustomer,
    ListCustomers,
    UpdateCustomer,
    ListAudit,
    /// Not a route: the first request of a sign-in session, recorded for the audit trail.
    SignIn,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::GetMe,
        Action::ListUsers,
        Action::Intake,
        Action::CreateCustomer,
        Action::GetCustomer,
        Action::ListCustomers,
        Action::UpdateCustomer,
        Action::ListAudit,
        Action::SignIn,
    ];

    /// The Cedar action id.
    pub fn policy_name(self) -> &'static str {
        match self {
            Action::GetMe => "GetMe",
            Action::ListUsers => "ListUsers",
            Action::Intake => "Intake",
            Action::CreateCustomer => "CreateCustomer",
            Action::GetCustomer => "GetCustomer",
            Action::ListCustomers => "ListCustomers",
            Action::UpdateCustomer => "UpdateCustomer",
            Action::ListAudit => "ListAudit",
            Action::SignIn => "SignIn",
        }
    }

    /// The name audit records carry.
    pub fn audit_name(self) -> &'static str {
        match self {
            Action::GetMe => "me.read",
            Action::ListUsers => "user.list",
            Action::Intake => "intake.create",
            Action::CreateCustomer => "customer.create",
            Action::GetCustomer => "customer.read",
            Action::ListCustomers => "customer.list",
            Action::UpdateCustomer => "customer.update",
            Action::ListAudit => "audit.list",
            Action::SignIn => "auth.sign_in",
        }
    }
}
