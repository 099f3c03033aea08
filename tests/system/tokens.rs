//! Tokens an attacker would try. Each must be refused with a 401 problem (a token that is
//! genuine but names no tenant is a 403). A control test signs a token with moto's own key and
//! valid claims and shows it is accepted, so every refusal below is for the one flaw it has.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fieldvault_core::caller::Role;
use fieldvault_system_tests::{Stack, TestTenant, PASSWORD};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

fn keys_dir() -> String {
    std::env::var("FV_TEST_KEYS_DIR").expect("FV_TEST_KEYS_DIR: run through infra/local/test.sh")
}

fn key(file: &str) -> EncodingKey {
    let pem = std::fs::read(format!("{}/{file}", keys_dir())).expect("test key");
    EncodingKey::from_rsa_pem(&pem).expect("RSA PEM")
}

pub(crate) fn claims(s: &Stack, t: &TestTenant, role: Role) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({
        "iss": s.issuer,
        "sub": t.user(role).id.to_string(),
        "client_id": s.client_id,
        "token_use": "access",
        "iat": now,
        "auth_time": now,
        "exp": now + 600,
        "jti": ulid::Ulid::new().to_string(),
        "origin_jti": ulid::Ulid::new().to_string(),
        "username": t.user(role).email,
        "cognito:groups": [format!("tenant:{}", t.id), role.as_str()],
    })
}

pub(crate) fn sign(claims: &Value, file: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(
        std::fs::read_to_string(format!("{}/moto-signing-kid", keys_dir()))
            .expect("kid")
            .trim()
            .to_owned(),
    );
    encode(&header, claims, &key(file)).expect("sign")
}

async fn status_of(s: &Stack, token: &str) -> u16 {
    let r = s.get("/me", token).await;
    if r.status != 200 {
        r.assert_problem(r.status);
    }
    r.status
}

#[tokio::test]
async fn control_a_well_formed_token_signed_by_the_pools_key_is_accepted() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let token = sign(&claims(&s, &t, Role::Admin), "moto-signing-key.pem");
    let r = s.get("/me", &token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["role"], "admin");
}

#[tokio::test]
async fn forged_and_misused_tokens_are_refused() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let good = claims(&s, &t, Role::Owner);
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    let mut cases: Vec<(&str, String)> = vec![
        (
            "expired",
            sign(&with("exp", json!(now - 60)), "moto-signing-key.pem"),
        ),
        (
            "wrong issuer",
            sign(
                &with(
                    "iss",
                    json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"),
                ),
                "moto-signing-key.pem",
            ),
        ),
        (
            "wrong client",
            sign(
                &with("client_id", json!("some-other-client")),
                "moto-signing-key.pem",
            ),
        ),
        (
            "not yet valid",
            sign(&with("nbf", json!(now + 600)), "moto-signing-key.pem"),
        ),
        ("no expiry", {
            let mut c = good.clone();
            c.as_object_mut().map(|o| o.remove("exp"));
            sign(&c, "moto-signing-key.pem")
        }),
        ("key not in the JWKS", sign(&good, "untrusted-key.pem")),
        ("garbage", "not.a.jwt".into()),
        ("empty", String::new()),
    ];
    // alg=none with the claims of a real owner.
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"dummy"}"#);
    let payload = URL_SAFE_NO_PAD.encode(good.to_string());
    cases.push(("alg none", format!("{none_header}.{payload}.")));
    // HS256 "signed" with a secret the attacker chose.
    let hs = encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(b"attacker-secret"),
    )
    .expect("hs256");
    cases.push(("HS256", hs));
    // A genuine token whose payload was edited to claim another tenant (signature kept).
    let real = &t.user(Role::Technician).access_token;
    let mut parts: Vec<String> = real.split('.').map(str::to_owned).collect();
    let mut body: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("json");
    body["cognito:groups"] = json!(["tenant:someone-else", "owner"]);
    parts[1] = URL_SAFE_NO_PAD.encode(body.to_string());
    cases.push(("tampered payload", parts.join(".")));
    // An id token where an access token is required (passes API Gateway's audience check).
    cases.push(("id token", t.user(Role::Owner).id_token.clone()));

    for (name, token) in &cases {
        assert_eq!(status_of(&s, token).await, 401, "{name} was not refused");
    }
    let no_header = s.call("GET", "/me", None, None).await;
    no_header.assert_problem(401);
}

#[tokio::test]
async fn genuine_tokens_from_another_pool_or_client_are_refused() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.user(Role::Owner);

    // Another app client of the same pool.
    let other_client = s
        .cognito
        .create_user_pool_client()
        .user_pool_id(&s.pool_id)
        .client_name("not-the-app")
        .send()
        .await
        .expect("client")
        .user_pool_client
        .and_then(|c| c.client_id)
        .expect("client id");
    let (from_other_client, _) = s.sign_in(&s.pool_id, &other_client, &owner.email).await;
    assert_eq!(status_of(&s, &from_other_client).await, 401);

    // Another pool entirely (moto signs every pool with the same key: only iss/client tell).
    let pool = s
        .cognito
        .create_user_pool()
        .pool_name("attacker-pool")
        .send()
        .await
        .expect("pool")
        .user_pool
        .and_then(|p| p.id)
        .expect("id");
    let client = s
        .cognito
        .create_user_pool_client()
        .user_pool_id(&pool)
        .client_name("attacker")
        .send()
        .await
        .expect("client")
        .user_pool_client
        .and_then(|c| c.client_id)
        .expect("client id");
    s.cognito
        .admin_create_user()
        .user_pool_id(&pool)
        .username("mallory@example.com")
        .message_action(aws_sdk_cognitoidentityprovider::types::MessageActionType::Suppress)
        .send()
        .await
        .expect("user");
    s.cognito
        .admin_set_user_password()
        .user_pool_id(&pool)
        .username("mallory@example.com")
        .password(PASSWORD)
        .permanent(true)
        .send()
        .await
        .expect("password");
    for group in [format!("tenant:{}", t.id), "owner".to_owned()] {
        s.cognito
            .create_group()
            .user_pool_id(&pool)
            .group_name(&group)
            .send()
            .await
            .expect("group");
        s.cognito
            .admin_add_user_to_group()
            .user_pool_id(&pool)
            .username("mallory@example.com")
            .group_name(&group)
            .send()
            .await
            .expect("membership");
    }
    let (from_other_pool, _) = s.sign_in(&pool, &client, "mallory@example.com").await;
    assert_eq!(status_of(&s, &from_other_pool).await, 401);
}

#[tokio::test]
async fn a_genuine_token_without_exactly_one_tenant_and_role_is_forbidden() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let mut no_tenant = claims(&s, &t, Role::Owner);
    no_tenant["cognito:groups"] = json!(["owner"]);
    s.get("/me", &sign(&no_tenant, "moto-signing-key.pem"))
        .await
        .assert_problem(403);
    let mut two_roles = claims(&s, &t, Role::Technician);
    two_roles["cognito:groups"] = json!([format!("tenant:{}", t.id), "technician", "owner"]);
    s.get("/me", &sign(&two_roles, "moto-signing-key.pem"))
        .await
        .assert_problem(403);
}
