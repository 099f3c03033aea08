//! The local policy guard. DynamoDB Local and moto do not evaluate IAM, so in local mode a
//! tenant session's SDK clients send every request through this HTTP client, which
//! evaluates the tenant role's policy from `template.yaml` (with the session's tags) exactly
//! as IAM would, and answers `AccessDeniedException` itself when IAM would refuse.
//! It sits at the HTTP layer, below every SDK call, so handler code cannot go around it.
use std::collections::BTreeMap;
#[cfg(feature = "local")]
use std::collections::HashMap;
use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
#[cfg(feature = "local")]
use fieldvault_core::iam::{
    dynamodb_requests, kms_requests, s3_requests, AssumeRoleCheck, AuthzRequest, Decision,
    PolicyDocument, ResourceNames,
};
use fieldvault_core::remembered::Remembered;
#[cfg(feature = "local")]
use fieldvault_core::template::{Bindings, Template, TemplateError};
#[cfg(feature = "local")]
use serde_json::Value;

/// The account moto reports; local ARNs use it so policy resources and requests agree.
pub const LOCAL_ACCOUNT: &str = "123456789012";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    Kms,
    S3,
}

/// The tenant role's policy, resolved for the local stack, plus what is needed to read
/// requests (table key schemas, ARN parts). Only in builds with the `local` feature (the
/// local stack and the tests): deployed functions leave policy evaluation to IAM and carry
/// none of this code (nor the template and its YAML parser).
#[cfg(feature = "local")]
#[derive(Debug)]
pub struct PolicyGuard {
    policy: PolicyDocument,
    /// The resolved policy document the guard evaluates (for the drift check).
    source: Value,
    names: ResourceNames,
    /// (table name, index name) → partition key attribute.
    partition_keys: HashMap<(String, Option<String>), String>,
    /// The data key's ARN (S3's default SSE-KMS key for the evidence bucket).
    data_key_arn: String,
    /// What STS decides for a tagged AssumeRole of the tenant role by an execution role.
    assume: AssumeRoleCheck,
    /// Each execution role's identity policy (logical id → policy), for the calls a function
    /// makes as itself.
    functions: HashMap<String, PolicyDocument>,
}

/// Without the `local` feature there is no guard: no value of this type can exist, so the
/// code that would consult one is unreachable and the linker drops it.
#[cfg(not(feature = "local"))]
#[derive(Debug)]
pub enum PolicyGuard {}

#[cfg(not(feature = "local"))]
impl PolicyGuard {
    pub fn decide(
        &self,
        _service: Service,
        _request: &HttpRequest,
        _tags: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        match *self {}
    }
    pub fn decide_assume(
        &self,
        _caller: &str,
        _tags: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        match *self {}
    }
    pub fn decide_as_function(
        &self,
        _function_role: &str,
        _service: Service,
        _request: &HttpRequest,
    ) -> Result<(), String> {
        match *self {}
    }
}

/// Names the local stack gave the template's resources.
#[derive(Debug, Clone)]
pub struct LocalNames {
    pub region: String,
    pub stack_name: String,
    pub kms_key_id: String,
}

#[cfg(feature = "local")]
impl LocalNames {
    /// Bindings for resolving the template against the local stack.
    pub fn bindings(&self, template: &Template) -> Bindings {
        let mut b = Bindings::default();
        let (region, account) = (self.region.clone(), LOCAL_ACCOUNT.to_owned());
        b.refs.insert("AWS::Region".into(), region.clone());
        b.refs.insert("AWS::AccountId".into(), account.clone());
        b.refs.insert("AWS::Partition".into(), "aws".into());
        b.refs
            .insert("AWS::StackName".into(), self.stack_name.clone());
        for (id, _) in template.resources_of_type("AWS::DynamoDB::Table") {
            let name = table_name(template, id, &b)
                .unwrap_or_else(|_| format!("{}-{id}", self.stack_name));
            b.attrs.insert(
                format!("{id}.Arn"),
                format!("arn:aws:dynamodb:{region}:{account}:table/{name}"),
            );
            b.refs.insert(id.clone(), name);
        }
        for (id, _) in template.resources_of_type("AWS::KMS::Key") {
            b.attrs.insert(
                format!("{id}.Arn"),
                format!("arn:aws:kms:{region}:{account}:key/{}", self.kms_key_id),
            );
            b.refs.insert(id.clone(), self.kms_key_id.clone());
        }
        for (id, _) in template.resources_of_type("AWS::IAM::Role") {
            b.attrs
                .insert(format!("{id}.Arn"), local_role_arn(&self.stack_name, id));
            b.refs
                .insert(id.clone(), format!("{}-{id}", self.stack_name));
        }
        for (id, _) in template.resources_of_type("AWS::S3::Bucket") {
            let name = local_bucket_name(&self.stack_name, id);
            b.attrs
                .insert(format!("{id}.Arn"), format!("arn:aws:s3:::{name}"));
            b.refs.insert(id.clone(), name);
        }
        // Everything else the roles' policies name (their log group, the user pool) gets a
        // stand-in ARN of its own: no request the local stack makes is evaluated against it.
        let ids: Vec<String> = template.resources().map(|(id, _)| id.clone()).collect();
        for id in ids {
            b.attrs
                .entry(format!("{id}.Arn"))
                .or_insert_with(|| format!("arn:aws:local:{region}:{account}:{id}"));
            b.refs
                .entry(id.clone())
                .or_insert_with(|| format!("{}-{id}", self.stack_name));
        }
        b
    }
}

/// The ARN the local stack gives a template role.
pub fn local_role_arn(stack_name: &str, logical_id: &str) -> String {
    format!("arn:aws:iam::{LOCAL_ACCOUNT}:role/{stack_name}-{logical_id}")
}

/// The name the local stack gives a template bucket (S3 names are lowercase).
pub fn local_bucket_name(stack_name: &str, logical_id: &str) -> String {
    format!("{stack_name}-{}", logical_id.to_ascii_lowercase())
}

/// A table's name as the template defines it.
#[cfg(feature = "local")]
pub fn table_name(
    template: &Template,
    logical_id: &str,
    b: &Bindings,
) -> Result<String, TemplateError> {
    let raw = &template.resource(logical_id)?["Properties"]["TableName"];
    match b.resolve(raw)? {
        Value::String(s) => Ok(s),
        _ => Err(TemplateError::Missing(format!("TableName of {logical_id}"))),
    }
}

#[cfg(feature = "local")]
impl PolicyGuard {
    pub fn from_template(
        template: &Template,
        names: &LocalNames,
    ) -> Result<PolicyGuard, TemplateError> {
        let bindings = names.bindings(template);
        let resolved = bindings.resolve(template.tenant_policy()?)?;
        let policy = PolicyDocument::from_json(&resolved)
            .map_err(|e| TemplateError::Unresolved(format!("tenant policy: {e}")))?;
        let mut partition_keys = HashMap::new();
        for (id, t) in template.resources_of_type("AWS::DynamoDB::Table") {
            let name = table_name(template, id, &bindings)?;
            let hash_of = |schema: &Value| {
                schema.as_array().and_then(|ks| {
                    ks.iter()
                        .find(|k| k["KeyType"] == "HASH")
                        .and_then(|k| k["AttributeName"].as_str().map(str::to_owned))
                })
            };
            if let Some(pk) = hash_of(&t["Properties"]["KeySchema"]) {
                partition_keys.insert((name.clone(), None), pk);
            }
            for gsi in t["Properties"]["GlobalSecondaryIndexes"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let (Some(index), Some(pk)) =
                    (gsi["IndexName"].as_str(), hash_of(&gsi["KeySchema"]))
                {
                    partition_keys.insert((name.clone(), Some(index.to_owned())), pk);
                }
            }
        }
        let mut callers = HashMap::new();
        let mut functions = HashMap::new();
        for (id, _) in template.resources_of_type("AWS::IAM::Role") {
            if id == fieldvault_core::template::TENANT_ROLE {
                continue;
            }
            let doc = bindings.resolve(&template.role_policy(id)?)?;
            let identity = PolicyDocument::from_json(&doc)
                .map_err(|e| TemplateError::Unresolved(format!("policy of {id}: {e}")))?;
            callers.insert(
                id.clone(),
                (local_role_arn(&names.stack_name, id), identity.clone()),
            );
            functions.insert(id.clone(), identity);
        }
        let trust =
            bindings.resolve(template.trust_policy(fieldvault_core::template::TENANT_ROLE)?)?;
        let trust = PolicyDocument::trust_from_json(&trust)
            .map_err(|e| TemplateError::Unresolved(format!("tenant role trust policy: {e}")))?;
        let assume = AssumeRoleCheck::new(
            local_role_arn(&names.stack_name, fieldvault_core::template::TENANT_ROLE),
            trust,
            callers,
        );
        Ok(PolicyGuard {
            assume,
            functions,
            policy,
            source: resolved,
            names: ResourceNames {
                region: names.region.clone(),
                account: LOCAL_ACCOUNT.into(),
            },
            partition_keys,
            data_key_arn: format!(
                "arn:aws:kms:{}:{LOCAL_ACCOUNT}:key/{}",
                names.region, names.kms_key_id
            ),
        })
    }

    /// The resolved tenant policy this guard evaluates.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// What STS would decide for `caller` (an execution role's logical id) assuming the
    /// tenant role with `tags`: the tenant role's trust policy and the caller's own policies.
    pub fn decide_assume(
        &self,
        caller: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        self.assume.decide(caller, tags)
    }

    /// What IAM would decide for a request a function makes with its own execution role's
    /// credentials (the portal's link lookup).
    pub fn decide_as_function(
        &self,
        function_role: &str,
        service: Service,
        request: &HttpRequest,
    ) -> Result<(), String> {
        let policy = self
            .functions
            .get(function_role)
            .ok_or_else(|| format!("{function_role} is not a role of this stack"))?;
        self.decide_with(policy, service, request, &BTreeMap::new())
    }

    /// What IAM would decide for this serialized request, made by a session with these tags.
    /// Every action the request implies must be allowed.
    pub fn decide(
        &self,
        service: Service,
        request: &HttpRequest,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        self.decide_with(&self.policy, service, request, tags)
    }

    fn decide_with(
        &self,
        policy: &PolicyDocument,
        service: Service,
        request: &HttpRequest,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let requests = self.requests(service, request)?;
        if requests.is_empty() {
            return Err("the request names no action".into());
        }
        for r in &requests {
            match policy.evaluate(r, tags) {
                Decision::Allow { .. } => {}
                Decision::ExplicitDeny { sid } => {
                    return Err(format!(
                        "not authorized to perform {} on {} with an explicit deny in statement {}",
                        r.action,
                        r.resource,
                        sid.unwrap_or_default()
                    ))
                }
                Decision::ImplicitDeny => {
                    return Err(format!(
                    "not authorized to perform {} on {} because no identity-based policy allows it",
                    r.action, r.resource
                ))
                }
            }
        }
        Ok(())
    }

    fn requests(
        &self,
        service: Service,
        request: &HttpRequest,
    ) -> Result<Vec<AuthzRequest>, String> {
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let body = request.body().bytes().unwrap_or_default();
        match service {
            Service::DynamoDb => {
                let lookup = |table: &str, index: Option<&str>| {
                    self.partition_keys
                        .get(&(table.to_owned(), index.map(str::to_owned)))
                        .cloned()
                };
                dynamodb_requests(target, body, &self.names, &lookup).map_err(|e| e.to_string())
            }
            Service::Kms => kms_requests(target, body, &self.names).map_err(|e| e.to_string()),
            Service::S3 => {
                let uri = request.uri();
                let after_scheme = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
                let path_and_query = after_scheme
                    .find('/')
                    .map(|i| &after_scheme[i..])
                    .unwrap_or("/");
                let (path, query) = path_and_query
                    .split_once('?')
                    .unwrap_or((path_and_query, ""));
                let mut out = s3_requests(request.method(), path, query, &self.names)
                    .map_err(|e| e.to_string())?;
                let header = |name: &str| request.headers().get(name).map(|v| v.trim().to_owned());
                if request.method().eq_ignore_ascii_case("PUT") {
                    if let Some((key, context)) = crate::objects::implied_kms_context(&header) {
                        let mut ctx: BTreeMap<String, Vec<String>> = context
                            .iter()
                            .map(|(k, v)| (format!("kms:EncryptionContext:{k}"), vec![v.clone()]))
                            .collect();
                        ctx.insert(
                            "kms:ViaService".into(),
                            vec![format!("s3.{}.amazonaws.com", self.names.region)],
                        );
                        out.push(AuthzRequest {
                            action: "kms:GenerateDataKey".into(),
                            resource: key.unwrap_or_else(|| self.data_key_arn.clone()),
                            context: ctx,
                        });
                    }
                }
                Ok(out)
            }
        }
    }
}

/// A session's remembered decisions, by request (`remembered_as`).
type Decisions = Remembered<Vec<u8>, Result<(), String>>;

/// At most this many remembered decisions per session client.
const REMEMBERED_DECISIONS: usize = 1024;

/// Requests with larger bodies (item writes) are decided afresh each time, not kept.
const REMEMBERED_BODY: usize = 1024;

/// The key a request's decision is remembered under, if it is kept: a DynamoDB or KMS
/// request's operation and body. Everything the guard evaluates for those comes from the
/// two (the action and resource from the operation and table, the condition keys from the
/// body), and the rest (the session's tags, the policy) is fixed for the client that holds
/// the memory, so the same key always gets the same answer. S3 requests, decided from the
/// URI and headers too, and large bodies are not kept.
fn remembered_as(service: Service, request: &HttpRequest) -> Option<Vec<u8>> {
    if service == Service::S3 {
        return None;
    }
    let target = request.headers().get("x-amz-target")?.as_bytes();
    let body = request.body().bytes()?;
    if body.len() > REMEMBERED_BODY {
        return None;
    }
    let mut key = Vec::with_capacity(target.len() + 1 + body.len());
    key.extend_from_slice(target);
    key.push(b'\n');
    key.extend_from_slice(body);
    Some(key)
}

/// An HTTP client that asks the guard before sending anything.
#[derive(Debug, Clone)]
pub struct GuardedHttpClient {
    inner: SharedHttpClient,
    guard: Arc<PolicyGuard>,
    service: Service,
    tags: Arc<BTreeMap<String, String>>,
    /// A function's own client: the execution role whose policy decides (no session tags).
    function_role: Option<Arc<str>>,
    /// This session's decisions: IAM evaluates in AWS, off the function's CPU; locally the
    /// guard's answer to a repeated request is recalled rather than evaluated again.
    decisions: Arc<Decisions>,
}

impl GuardedHttpClient {
    pub fn new(
        inner: SharedHttpClient,
        guard: Arc<PolicyGuard>,
        service: Service,
        tags: BTreeMap<String, String>,
    ) -> Self {
        Self {
            inner,
            guard,
            service,
            tags: Arc::new(tags),
            function_role: None,
            decisions: Arc::new(Remembered::new(REMEMBERED_DECISIONS)),
        }
    }

    /// A client of a function acting as itself: its execution role's policy decides.
    pub fn for_function(
        inner: SharedHttpClient,
        guard: Arc<PolicyGuard>,
        service: Service,
        function_role: &str,
    ) -> Self {
        Self {
            function_role: Some(Arc::from(function_role)),
            ..Self::new(inner, guard, service, BTreeMap::new())
        }
    }
}

impl HttpClient for GuardedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(GuardedConnector {
            inner: self.inner.http_connector(settings, components),
            guard: self.guard.clone(),
            service: self.service,
            tags: self.tags.clone(),
            function_role: self.function_role.clone(),
            decisions: self.decisions.clone(),
        })
    }
}

#[derive(Debug)]
struct GuardedConnector {
    inner: SharedHttpConnector,
    guard: Arc<PolicyGuard>,
    service: Service,
    tags: Arc<BTreeMap<String, String>>,
    function_role: Option<Arc<str>>,
    decisions: Arc<Decisions>,
}

impl GuardedConnector {
    fn evaluate(&self, request: &HttpRequest) -> Result<(), String> {
        match &self.function_role {
            Some(role) => self.guard.decide_as_function(role, self.service, request),
            None => self.guard.decide(self.service, request, &self.tags),
        }
    }

    fn decide(&self, request: &HttpRequest) -> Result<(), String> {
        let Some(key) = remembered_as(self.service, request) else {
            return self.evaluate(request);
        };
        if let Some(known) = self.decisions.recall(&key[..]) {
            return known;
        }
        let decision = self.evaluate(request);
        self.decisions.remember(key, decision.clone());
        decision
    }
}

impl HttpConnector for GuardedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        match self.decide(&request) {
            Ok(()) => self.inner.call(request),
            Err(message) => {
                tracing::warn!(service = ?self.service, %message, "policy guard denied a request");
                HttpConnectorFuture::ready(Ok(access_denied(self.service, &message)))
            }
        }
    }
}

/// The response AWS gives when IAM refuses: the SDK parses it into the same error.
fn access_denied(service: Service, message: &str) -> HttpResponse {
    let (status, content_type, body) = match service {
        Service::DynamoDb | Service::Kms => (
            400,
            if service == Service::Kms { "application/x-amz-json-1.1" } else { "application/x-amz-json-1.0" },
            serde_json::json!({ "__type": "com.amazon.coral.service#AccessDeniedException", "message": message }).to_string(),
        ),
        Service::S3 => (
            403,
            "application/xml",
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>{}</Message></Error>",
                message.replace('&', "&amp;").replace('<', "&lt;")),
        ),
    };
    let status = StatusCode::try_from(status)
        .unwrap_or_else(|_| StatusCode::from(http::StatusCode::FORBIDDEN));
    let mut response = HttpResponse::new(status, SdkBody::from(body));
    response.headers_mut().insert("content-type", content_type);
    response
        .headers_mut()
        .insert("x-amzn-errortype", "AccessDeniedException");
    response
}

#[cfg(all(test, feature = "local"))]
mod tests {
    use super::*;
    use fieldvault_core::caller::Role;
    use fieldvault_core::ids::{CustomerId, InvoiceId, TenantId, UserId};
    use fieldvault_core::keys;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Stands in for the network: counts what the guard lets through and answers 200.
    #[derive(Debug, Clone, Default)]
    struct Network(Arc<AtomicUsize>);

    impl HttpConnector for Network {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            self.0.fetch_add(1, Ordering::SeqCst);
            let ok = StatusCode::try_from(200).expect("status");
            HttpConnectorFuture::ready(Ok(HttpResponse::new(ok, SdkBody::empty())))
        }
    }

    fn names() -> LocalNames {
        LocalNames {
            region: "us-east-1".into(),
            stack_name: "guard-unit".into(),
            kms_key_id: "key-1".into(),
        }
    }

    fn connector(guard: &Arc<PolicyGuard>, role: Role, network: &Network) -> GuardedConnector {
        let tenant = TenantId::parse("acme").expect("tenant");
        let user = UserId::parse("u-1").expect("user");
        GuardedConnector {
            inner: SharedHttpConnector::new(network.clone()),
            guard: guard.clone(),
            service: Service::DynamoDb,
            tags: Arc::new(crate::session::session_tags(&tenant, role, &user)),
            function_role: None,
            decisions: Arc::new(Remembered::new(REMEMBERED_DECISIONS)),
        }
    }

    fn get_item(table: &str, key: &keys::Key) -> HttpRequest {
        let body = serde_json::json!({
            "TableName": table,
            "Key": {"pk": {"S": key.pk}, "sk": {"S": key.sk}},
            "ConsistentRead": true,
        });
        let mut request = HttpRequest::new(SdkBody::from(body.to_string()));
        request
            .headers_mut()
            .insert("x-amz-target", "DynamoDB_20120810.GetItem");
        request
    }

    async fn status(c: &GuardedConnector, request: HttpRequest) -> u16 {
        c.call(request).await.expect("answer").status().as_u16()
    }

    /// A remembered decision is the one the guard gives afresh: allowed requests are let
    /// through again, another tenant's key and a technician's billing key stay refused
    /// however often they are asked, and the memory stays within its bound.
    #[tokio::test]
    async fn remembered_decisions_are_the_guards_own_and_bounded() {
        let template = Template::embedded().expect("template");
        let names = names();
        let guard = Arc::new(PolicyGuard::from_template(&template, &names).expect("guard"));
        let table = table_name(&template, "DataTable", &names.bindings(&template)).expect("name");
        let acme = TenantId::parse("acme").expect("tenant");
        let other = TenantId::parse("other").expect("tenant");
        let ours = keys::customer(&acme, &CustomerId::new(ulid::Ulid::new()));
        let theirs = keys::customer(&other, &CustomerId::new(ulid::Ulid::new()));
        let invoice = keys::invoice(&acme, &InvoiceId::new(ulid::Ulid::new()));

        let network = Network::default();
        let owner = connector(&guard, Role::Owner, &network);
        for round in 0..3 {
            for (key, allowed) in [(&ours, true), (&theirs, false), (&invoice, true)] {
                let fresh = guard.decide(Service::DynamoDb, &get_item(&table, key), &owner.tags);
                assert_eq!(fresh.is_ok(), allowed, "{key:?}");
                assert_eq!(owner.decide(&get_item(&table, key)), fresh, "round {round}");
                let expected = if allowed { 200 } else { 400 };
                assert_eq!(status(&owner, get_item(&table, key)).await, expected);
            }
        }
        assert_eq!(
            owner.decisions.len(),
            3,
            "one decision per distinct request"
        );
        assert_eq!(
            network.0.load(Ordering::SeqCst),
            6,
            "refusals never reach the network"
        );

        // The memory belongs to one session: a technician's connector decides for itself.
        let technician = connector(&guard, Role::Technician, &network);
        assert_eq!(status(&owner, get_item(&table, &invoice)).await, 200);
        for _ in 0..2 {
            assert_eq!(status(&technician, get_item(&table, &invoice)).await, 400);
        }

        // Bounded: many distinct requests leave at most the bound behind.
        for _ in 0..REMEMBERED_DECISIONS + 10 {
            let key = keys::customer(&acme, &CustomerId::new(ulid::Ulid::new()));
            assert!(owner.decide(&get_item(&table, &key)).is_ok());
        }
        assert!(owner.decisions.len() <= REMEMBERED_DECISIONS);
    }

    fn kms(operation: &str, tenant: &str) -> HttpRequest {
        let body = serde_json::json!({
            "KeyId": "key-1",
            "KeySpec": "AES_256",
            "Plaintext": "c2VjcmV0",
            "EncryptionContext": {"tenant_id": tenant, "purpose": "field"},
        });
        let mut request = HttpRequest::new(SdkBody::from(body.to_string()));
        request
            .headers_mut()
            .insert("x-amz-target", format!("TrentService.{operation}"));
        request
    }

    /// Sealed fields use data keys (GenerateDataKey, Decrypt) under the session's tenant;
    /// `kms:Encrypt`, which no code uses, is not granted to any session, whatever the role.
    #[test]
    fn tenant_sessions_may_not_use_kms_encrypt() {
        let template = Template::embedded().expect("template");
        let guard = PolicyGuard::from_template(&template, &names()).expect("guard");
        let tenant = TenantId::parse("acme").expect("tenant");
        let user = UserId::parse("u-1").expect("user");
        let tags = crate::session::session_tags(&tenant, Role::Owner, &user);
        for allowed in ["GenerateDataKey", "Decrypt"] {
            let decided = guard.decide(Service::Kms, &kms(allowed, "acme"), &tags);
            assert!(decided.is_ok(), "{allowed}: {decided:?}");
        }
        let encrypt = guard.decide(Service::Kms, &kms("Encrypt", "acme"), &tags);
        assert!(encrypt.is_err_and(|e| e.contains("kms:Encrypt")));
        assert!(guard
            .decide(Service::Kms, &kms("GenerateDataKey", "other"), &tags)
            .is_err());
    }
}
