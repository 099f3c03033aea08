//! `fieldvault-ops`: platform operator actions, against AWS or the local stack (whatever the
//! environment points at).
//!
//! `onboard-tenant --tenant-id ID --name NAME --owner-email EMAIL [--owner-name NAME]
//! [--payment-account ACCT]` creates the tenant, its Cognito group and its owner (Cognito
//! emails the invitation), and its own account at the payment provider: ACCT links an
//! existing one; without it a new one is opened at the configured provider
//! (`FV_PAYMENTS_API_URL`, `FV_PAYMENTS_API_KEY`). It says that the owner must enroll an
//! authenticator before any step-up-gated action.
//!
//! `link-payment-account --tenant-id ID [--payment-account ACCT]` links (or opens) the
//! provider account of a tenant that has none, or replaces it; audited in the tenant.
use aws_config::BehaviorVersion;
use fieldvault_aws::onboarding::{link_payment_account, onboard_tenant, payment_account, NewUser};
use fieldvault_aws::payments::SandboxProvider;
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
        Some("link-payment-account") => link(&args[1..]).await,
        _ => Err("usage: fieldvault-ops onboard-tenant --tenant-id ID --name NAME --owner-email EMAIL [--owner-name NAME] [--payment-account ACCT] | link-payment-account --tenant-id ID [--payment-account ACCT]".into()),
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
    let account = open_or_link(&settings, args, &tenant, &name).await?;
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
        account.clone(),
        &operator,
    )
    .await?;
    match &account {
        Some(a) => println!("{tenant} takes payments on provider account {a}"),
        None => println!("{tenant} has no payment provider account (no provider configured): its payment routes answer 409 until `fieldvault-ops link-payment-account` links one"),
    }
    for u in users {
        println!(
            "onboarded {} as owner of {tenant} (user id {})",
            u.email, u.user_id
        );
        if let Some(notice) = fieldvault_core::mfa::enrollment_notice(u.role) {
            println!("{notice}");
        }
    }
    Ok(())
}

/// The account `--payment-account` names, or a new one at the configured provider.
async fn open_or_link(
    settings: &Settings,
    args: &[String],
    tenant: &TenantId,
    name: &str,
) -> Result<Option<fieldvault_core::payment::ProviderAccount>, BoxError> {
    let provider = settings
        .payments
        .clone()
        .map(SandboxProvider::new)
        .transpose()?;
    let linked = flag(args, "--payment-account");
    Ok(payment_account(provider.as_ref(), linked.as_deref(), tenant, name).await?)
}

async fn link(args: &[String]) -> Result<(), BoxError> {
    let tenant = TenantId::parse(&flag(args, "--tenant-id").ok_or("--tenant-id is required")?)?;
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let settings = Settings::from_env()?;
    let account = open_or_link(&settings, args, &tenant, tenant.as_str())
        .await?
        .ok_or("no --payment-account given and no payment provider configured to open one")?;
    let guard = fieldvault_aws::app::local_guard(&settings)?;
    let sessions = SessionFactory::new(sdk, settings, guard);
    let operator = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    link_payment_account(&sessions, &tenant, account.clone(), &operator).await?;
    println!("{tenant} takes payments on provider account {account}");
    Ok(())
}
