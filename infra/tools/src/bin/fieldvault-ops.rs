//! `fieldvault-ops`: platform operator actions, against AWS or the local stack (whatever the
//! environment points at).
//!
//! `onboard-tenant --tenant-id ID --name NAME --owner-email EMAIL [--owner-name NAME]`
//! creates the tenant, its Cognito group and its owner (Cognito emails the invitation).
use aws_config::BehaviorVersion;
use fieldvault_aws::onboarding::{onboard_tenant, NewUser};
use fieldvault_aws::session::SessionFactory;
use fieldvault_aws::settings::Settings;
use fieldvault_core::caller::Role;
use fieldvault_core::ids::TenantId;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() {
    fieldvault_aws::install_tls_provider();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("onboard-tenant") => onboard(&args[1..]).await,
        _ => Err("usage: fieldvault-ops onboard-tenant --tenant-id ID --name NAME --owner-email EMAIL [--owner-name NAME]".into()),
    };
    if let Err(e) = result {
        eprintln!("fieldvault-ops: {e}");
        std::process::exit(1);
    }
}

async fn onboard(args: &[String]) -> Result<(), BoxError> {
    let tenant = TenantId::parse(&flag(args, "--tenant-id").ok_or("--tenant-id is required")?)?;
    let name = flag(args, "--name").ok_or("--name is required")?;
    let email = flag(args, "--owner-email").ok_or("--owner-email is required")?;
    let owner_name = flag(args, "--owner-name").unwrap_or_else(|| email.clone());
    let pool = std::env::var("FV_USER_POOL_ID").map_err(|_| "FV_USER_POOL_ID is not set")?;
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let settings = Settings::from_env()?;
    let guard = fieldvault_aws::app::local_guard(&settings)?;
    let operator_sdk = fieldvault_aws::onboarding::operator_config(&sdk).await?;
    let sessions = SessionFactory::new(operator_sdk, settings, guard);
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let operator = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    let owner = NewUser {
        email,
        name: owner_name,
        role: Role::Owner,
        password: None,
    };
    let users = onboard_tenant(
        &cognito,
        &pool,
        &sessions,
        &tenant,
        &name,
        &[owner],
        &operator,
    )
    .await?;
    for u in users {
        println!(
            "onboarded {} as owner of {tenant} (user id {})",
            u.email, u.user_id
        );
    }
    Ok(())
}
