//! Creates the local stack's resources from `template.yaml`: the same tables (keys, indexes,
//! stream), the data key, the user pool with its schema, password policy, app client and role
//! groups. What DynamoDB Local or moto cannot do (point-in-time recovery, table SSE, advanced
//! security) is left out here and stays in the template for AWS.
use aws_config::SdkConfig;
use aws_sdk_cognitoidentityprovider::types::{
    AdminCreateUserConfigType, ExplicitAuthFlowsType, PasswordPolicyType, SchemaAttributeType,
    StringAttributeConstraintsType, UserPoolMfaType, UserPoolPolicyType,
};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use fieldvault_aws::guard::{table_name, LocalNames};
use fieldvault_core::template::Template;
use serde_json::Value;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything a process needs to use the provisioned stack, as environment variables.
#[derive(Debug, Clone)]
pub struct LocalStack {
    pub stack_name: String,
    pub region: String,
    pub data_table: String,
    pub audit_table: String,
    pub kms_key_id: String,
    pub user_pool_id: String,
    pub client_id: String,
    pub tenant_role_arn: String,
    pub cursor_secret: String,
    pub issuer: String,
    pub jwks_url: String,
    pub evidence_bucket: String,
}

impl LocalStack {
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("FV_STACK_NAME", self.stack_name.clone()),
            ("FV_DATA_TABLE", self.data_table.clone()),
            ("FV_AUDIT_TABLE", self.audit_table.clone()),
            ("FV_KMS_KEY_ID", self.kms_key_id.clone()),
            ("FV_USER_POOL_ID", self.user_pool_id.clone()),
            ("FV_USER_POOL_CLIENT_ID", self.client_id.clone()),
            ("FV_TENANT_ROLE_ARN", self.tenant_role_arn.clone()),
            ("FV_CURSOR_SECRET", self.cursor_secret.clone()),
            ("FV_ISSUER", self.issuer.clone()),
            ("FV_JWKS_URL", self.jwks_url.clone()),
            ("FV_EVIDENCE_BUCKET", self.evidence_bucket.clone()),
        ]
    }

    pub fn settings(&self, local: bool) -> Result<fieldvault_aws::settings::Settings, BoxError> {
        Ok(fieldvault_aws::settings::Settings {
            data_table: self.data_table.clone(),
            audit_table: self.audit_table.clone(),
            tenant_role_arn: self.tenant_role_arn.clone(),
            cursor_key: fieldvault_core::cursor::CursorKey::new(self.cursor_secret.as_bytes())
                .ok_or("cursor secret too short")?,
            region: self.region.clone(),
            local,
            stack_name: self.stack_name.clone(),
            kms_key_id: self.kms_key_id.clone(),
            payments: None,
            public_url: None,
            link_ttls: Default::default(),
            user_pool_id: Some(self.user_pool_id.clone()),
            evidence_bucket: Some(self.evidence_bucket.clone()),
            kms_key_arn: String::new(),
            telephony_webhook_secrets: Vec::new(),
        })
    }
}

fn str_of<'a>(v: &'a Value, what: &str) -> Result<&'a str, BoxError> {
    v.as_str()
        .ok_or_else(|| format!("template: {what} is not a string").into())
}

fn key_schema(v: &Value) -> Result<Vec<KeySchemaElement>, BoxError> {
    let mut out = Vec::new();
    for k in v.as_array().into_iter().flatten() {
        let kind = if k["KeyType"] == "HASH" {
            KeyType::Hash
        } else {
            KeyType::Range
        };
        out.push(
            KeySchemaElement::builder()
                .attribute_name(str_of(&k["AttributeName"], "AttributeName")?)
                .key_type(kind)
                .build()?,
        );
    }
    Ok(out)
}

async fn create_tables(
    sdk: &SdkConfig,
    template: &Template,
    names: &LocalNames,
) -> Result<(), BoxError> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let bindings = names.bindings(template);
    for (id, table) in template.resources_of_type("AWS::DynamoDB::Table") {
        let p = &table["Properties"];
        let name = table_name(template, id, &bindings)?;
        let mut create = ddb
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest);
        for a in p["AttributeDefinitions"].as_array().into_iter().flatten() {
            let kind = match a["AttributeType"].as_str() {
                Some("N") => ScalarAttributeType::N,
                Some("B") => ScalarAttributeType::B,
                _ => ScalarAttributeType::S,
            };
            create = create.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(str_of(&a["AttributeName"], "AttributeName")?)
                    .attribute_type(kind)
                    .build()?,
            );
        }
        create = create.set_key_schema(Some(key_schema(&p["KeySchema"])?));
        for g in p["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
            create = create.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(str_of(&g["IndexName"], "IndexName")?)
                    .set_key_schema(Some(key_schema(&g["KeySchema"])?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()?,
            );
        }
        if let Some(view) = p["StreamSpecification"]["StreamViewType"].as_str() {
            create = create.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view))
                    .build()?,
            );
        }
        if p["DeletionProtectionEnabled"] == true {
            create = create.deletion_protection_enabled(true);
        }
        create.send().await.map_err(|e| {
            format!(
                "create table {name}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        })?;
    }
    Ok(())
}

async fn create_user_pool(
    sdk: &SdkConfig,
    template: &Template,
    stack_name: &str,
) -> Result<(String, String), BoxError> {
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(sdk);
    let (_, pool) = template
        .resources_of_type("AWS::Cognito::UserPool")
        .next()
        .ok_or("template has no user pool")?;
    let p = &pool["Properties"];
    let pw = &p["Policies"]["PasswordPolicy"];
    let mut create = cognito
        .create_user_pool()
        .pool_name(format!("{stack_name}-users"))
        .policies(
            UserPoolPolicyType::builder()
                .password_policy(
                    PasswordPolicyType::builder()
                        .minimum_length(pw["MinimumLength"].as_i64().unwrap_or(12) as i32)
                        .require_lowercase(pw["RequireLowercase"] == true)
                        .require_uppercase(pw["RequireUppercase"] == true)
                        .require_numbers(pw["RequireNumbers"] == true)
                        .require_symbols(pw["RequireSymbols"] == true)
                        .temporary_password_validity_days(
                            pw["TemporaryPasswordValidityDays"].as_i64().unwrap_or(3) as i32,
                        )
                        .build(),
                )
                .build(),
        )
        .admin_create_user_config(
            AdminCreateUserConfigType::builder()
                .allow_admin_create_user_only(
                    p["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] == true,
                )
                .build(),
        )
        .mfa_configuration(UserPoolMfaType::from(
            p["MfaConfiguration"].as_str().unwrap_or("OFF"),
        ));
    for a in p["Schema"].as_array().into_iter().flatten() {
        let name = str_of(&a["Name"], "Schema Name")?;
        if name == "email" {
            continue; // a standard attribute, always present
        }
        let mut attr = SchemaAttributeType::builder()
            .name(name)
            .attribute_data_type(aws_sdk_cognitoidentityprovider::types::AttributeDataType::String)
            .mutable(a["Mutable"] != false);
        if let Some(c) = a.get("StringAttributeConstraints") {
            attr = attr.string_attribute_constraints(
                StringAttributeConstraintsType::builder()
                    .set_min_length(c["MinLength"].as_str().map(str::to_owned))
                    .set_max_length(c["MaxLength"].as_str().map(str::to_owned))
                    .build(),
            );
        }
        create = create.schema(attr.build());
    }
    let pool_id = create
        .send()
        .await
        .map_err(|e| {
            format!(
                "create user pool: {}",
                aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e)
            )
        })?
        .user_pool
        .and_then(|p| p.id)
        .ok_or("user pool without id")?;

    let (_, client) = template
        .resources_of_type("AWS::Cognito::UserPoolClient")
        .next()
        .ok_or("template has no app client")?;
    let c = &client["Properties"];
    let strings = |v: &Value| {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let client_id = cognito
        .create_user_pool_client()
        .user_pool_id(&pool_id)
        .client_name(format!("{stack_name}-app"))
        .generate_secret(c["GenerateSecret"] == true)
        .set_explicit_auth_flows(Some(
            strings(&c["ExplicitAuthFlows"])
                .iter()
                .map(|f| ExplicitAuthFlowsType::from(f.as_str()))
                .collect(),
        ))
        .set_read_attributes(Some(strings(&c["ReadAttributes"])))
        .set_write_attributes(Some(strings(&c["WriteAttributes"])))
        .send()
        .await
        .map_err(|e| {
            format!(
                "create app client: {}",
                aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e)
            )
        })?
        .user_pool_client
        .and_then(|c| c.client_id)
        .ok_or("app client without id")?;

    for (_, g) in template.resources_of_type("AWS::Cognito::UserPoolGroup") {
        cognito
            .create_group()
            .user_pool_id(&pool_id)
            .group_name(str_of(&g["Properties"]["GroupName"], "GroupName")?)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "create group: {}",
                    aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e)
                )
            })?;
    }
    Ok((pool_id, client_id))
}

/// Provision every resource the template defines that the local stack can hold.
pub async fn provision(sdk: &SdkConfig, stack_name: &str) -> Result<LocalStack, BoxError> {
    let template = Template::embedded()?;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into());
    let kms = aws_sdk_kms::Client::new(sdk);
    let key = kms
        .create_key()
        .description(format!("{stack_name} data key"))
        .send()
        .await
        .map_err(|e| format!("create key: {}", aws_sdk_kms::error::DisplayErrorContext(e)))?;
    let kms_key_id = key.key_metadata.map(|m| m.key_id).ok_or("key without id")?;
    kms.enable_key_rotation()
        .key_id(&kms_key_id)
        .send()
        .await
        .map_err(|e| {
            format!(
                "key rotation: {}",
                aws_sdk_kms::error::DisplayErrorContext(e)
            )
        })?;
    let names = LocalNames {
        region: region.clone(),
        stack_name: stack_name.to_owned(),
        kms_key_id: kms_key_id.clone(),
    };
    create_tables(sdk, &template, &names).await?;
    let bindings = names.bindings(&template);
    let (user_pool_id, client_id) = create_user_pool(sdk, &template, stack_name).await?;
    // The evidence bucket (moto: path-style; public access blocked as in the template).
    let evidence_bucket = fieldvault_aws::guard::local_bucket_name(stack_name, "EvidenceBucket");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket(&evidence_bucket)
        .send()
        .await
        .map_err(|e| {
            format!(
                "create bucket: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        })?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .map_err(|_| "AWS_ENDPOINT_URL is not set: provisioning is for the local stack only")?;
    use rand::RngCore;
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    use base64::Engine;
    Ok(LocalStack {
        stack_name: stack_name.to_owned(),
        data_table: table_name(&template, "DataTable", &bindings)?,
        audit_table: table_name(&template, "AuditTable", &bindings)?,
        issuer: format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"),
        jwks_url: format!(
            "{}/{user_pool_id}/.well-known/jwks.json",
            endpoint.trim_end_matches('/')
        ),
        tenant_role_arn: fieldvault_aws::guard::local_role_arn(
            stack_name,
            fieldvault_core::template::TENANT_ROLE,
        ),
        cursor_secret: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
        region,
        kms_key_id,
        user_pool_id,
        client_id,
        evidence_bucket,
    })
}
