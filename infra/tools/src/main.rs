//! `fieldvault-local`: the local stack's control program.
//!
//! - `up [--port N] [--stack-name NAME] [--env-out FILE] [--demo]`: provision every resource
//!   from template.yaml on the emulators, optionally onboard a demo tenant with one user per
//!   role, write the environment to FILE, and serve the API on 127.0.0.1 until stopped.
//! - `token USERNAME PASSWORD`: sign in (local admin auth flow) and print an access token.
use std::sync::Arc;

use aws_config::BehaviorVersion;
use fieldvault_aws::onboarding::{onboard_tenant, payment_account, NewUser};
use fieldvault_aws::settings::PaymentSettings;
use fieldvault_aws::App;
use fieldvault_core::caller::Role;
use fieldvault_core::ids::TenantId;
use fieldvault_core::template::Template;
use fieldvault_tools::gateway::Gateway;
use fieldvault_tools::jwt::JwtVerifier;
use fieldvault_tools::provision::{provision, BoxError};
use fieldvault_tools::sandbox::Sandbox;

const DEMO_TENANT: &str = "demo-shop";
const DEMO_PASSWORD: &str = "Demo-password-1!";

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn random_hex() -> String {
    rand::random::<[u8; 16]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::main]
async fn main() {
    fieldvault_aws::app::init_tracing();
    fieldvault_aws::install_tls_provider();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("up") => up(&args[1..]).await,
        Some("token") => token(&args[1..]).await,
        _ => Err("usage: fieldvault-local up [--port N] [--stack-name NAME] [--env-out FILE] [--demo] | token USERNAME PASSWORD".into()),
    };
    if let Err(e) = result {
        eprintln!("fieldvault-local: {e}");
        std::process::exit(1);
    }
}

async fn up(args: &[String]) -> Result<(), BoxError> {
    let port: u16 = flag(args, "--port")
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(0);
    let stack_name = flag(args, "--stack-name").unwrap_or_else(|| "fieldvault-local".into());
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let stack = provision(&sdk, &stack_name).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let url = format!("http://{}", listener.local_addr()?);

    // The sandbox payment provider, on a port of its own like a separate host. Two webhook
    // secrets are configured (it signs with the first) so rotation is exercised locally.
    let sandbox_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let sandbox_url = format!("http://{}", sandbox_listener.local_addr()?);
    let payments = PaymentSettings {
        api_url: sandbox_url.clone(),
        api_key: format!("sk_sandbox_{}", random_hex()),
        webhook_secrets: vec![
            format!("whsec_{}", random_hex()).into_bytes(),
            format!("whsec_{}", random_hex()).into_bytes(),
        ],
        return_url: format!("{sandbox_url}/done?invoice={{invoice_id}}"),
    };
    let sandbox = Arc::new(Sandbox::new(
        sandbox_url.clone(),
        payments.api_key.clone(),
        payments.webhook_secrets[0].clone(),
        format!("{url}/webhooks/payments"),
    ));
    tokio::spawn(sandbox.serve(sandbox_listener));
    // The telephony webhook's secrets (two, as during a rotation; providers sign with the
    // first). Tests sign deliveries and tenant tokens with them.
    let telephony_secrets = [
        format!("tlsec_{}", random_hex()),
        format!("tlsec_{}", random_hex()),
    ];
    let mut settings = stack.settings(true)?;
    settings.payments = Some(payments.clone());
    settings.public_url = Some(url.clone());
    settings.telephony_webhook_secrets = telephony_secrets
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let app: &'static App = Box::leak(Box::new(App::new(sdk.clone(), settings)?));
    let verifier = JwtVerifier::new(
        stack.issuer.clone(),
        vec![stack.client_id.clone()],
        stack.jwks_url.clone(),
    );
    let gateway = Arc::new(Gateway::from_template(
        app,
        &Template::embedded()?,
        verifier,
    )?);

    let demo = args.iter().any(|a| a == "--demo");
    if demo {
        let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
        let users: Vec<NewUser> = Role::ALL
            .iter()
            .map(|r| NewUser {
                email: format!("{r}@demo.fieldvault.test"),
                name: format!("Demo {r}"),
                role: *r,
                password: Some(DEMO_PASSWORD.into()),
            })
            .collect();
        let tenant = TenantId::parse(DEMO_TENANT)?;
        let name = "Demo Heating & Plumbing";
        let account = payment_account(app.payments().ok(), None, &tenant, name).await?;
        onboard_tenant(
            &cognito,
            &stack.user_pool_id,
            &app.sessions,
            &tenant,
            name,
            &users,
            account,
            "fieldvault-local",
        )
        .await?;
    }

    let mut env: Vec<(&str, String)> = stack.env();
    env.push(("FV_API_URL", url.clone()));
    // Processes using this stack (tests, tools) act as the staff functions' execution role
    // unless they name another; the gateway runs each route as its own function's role.
    env.push((
        "FV_EXECUTION_ROLE",
        fieldvault_aws::session::execution_roles::STAFF.into(),
    ));
    env.push(("FV_PAYMENTS_API_URL", payments.api_url.clone()));
    env.push(("FV_PAYMENTS_API_KEY", payments.api_key.clone()));
    let secrets: Vec<String> = payments
        .webhook_secrets
        .iter()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    env.push(("FV_PAYMENTS_WEBHOOK_SECRETS", secrets.join(",")));
    env.push(("FV_PAYMENTS_RETURN_URL", payments.return_url.clone()));
    env.push(("FV_TELEPHONY_WEBHOOK_SECRETS", telephony_secrets.join(",")));
    if let Some(path) = flag(args, "--env-out") {
        let text: String = env
            .iter()
            .map(|(k, v)| format!("export {k}='{v}'\n"))
            .collect();
        let tmp = format!("{path}.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)?; // appears whole or not at all: readers poll for it
    }
    println!(
        "Fieldvault API on {url} ({} routes from template.yaml)",
        gateway.route_count()
    );
    println!(
        "Sandbox payment provider on {sandbox_url} (test cards: 4242 4242 4242 4242 pays, 4000 0000 0000 0002 is declined)"
    );
    if demo {
        println!("\nDemo tenant '{DEMO_TENANT}', password for every user: {DEMO_PASSWORD}");
        for r in Role::ALL {
            println!("  {:<11} {r}@demo.fieldvault.test", r.as_str());
        }
        println!("\nTry it:");
        println!("  TOKEN=$(infra/local/token.sh owner@demo.fieldvault.test '{DEMO_PASSWORD}')");
        println!("  curl -s -H \"Authorization: Bearer $TOKEN\" {url}/me");
        println!(
            "  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'content-type: application/json' \\"
        );
        println!("       -d '{{\"source\":\"call\",\"contact\":{{\"name\":\"Pat Doe\",\"phone\":\"555-010-0199\"}},\"notes\":\"No heat\"}}' {url}/intake");
        println!("  curl -s {url}/openapi.json");
        println!("\n{}", fieldvault_core::mfa::OWNER_ADMIN_MFA_NOTICE);
    }
    println!("\nPress Ctrl-C to stop.");
    gateway.serve(listener).await?;
    Ok(())
}

async fn token(args: &[String]) -> Result<(), BoxError> {
    let (Some(username), Some(password)) = (args.first(), args.get(1)) else {
        return Err("usage: fieldvault-local token USERNAME PASSWORD".into());
    };
    let pool = std::env::var("FV_USER_POOL_ID")?;
    let client = std::env::var("FV_USER_POOL_CLIENT_ID")?;
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let out = cognito
        .admin_initiate_auth()
        .user_pool_id(pool)
        .client_id(client)
        .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", username)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .map_err(|e| {
            format!(
                "sign-in failed: {}",
                aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e)
            )
        })?;
    let token = out
        .authentication_result
        .and_then(|r| r.access_token)
        .ok_or("no access token (is a challenge pending?)")?;
    println!("{token}");
    Ok(())
}
