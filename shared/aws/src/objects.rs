//! The evidence bucket, through one tenant session: its STS credentials sign every URL (so
//! in AWS, S3 checks the tenant role's policy when the URL is used), every object is
//! SSE-KMS with the data key under the encryption context {tenant_id}, and locally the
//! policy guard evaluates presigned requests at signing time as IAM would at use time.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use fieldvault_core::evidence::{ObjectError, ObjectStore, PresignedUrl, MAX_URL_TTL};
use fieldvault_core::ids::TenantId;
use fieldvault_core::keys;

use crate::guard::{PolicyGuard, Service};

pub struct S3Objects {
    pub(crate) client: aws_sdk_s3::Client,
    pub(crate) bucket: String,
    pub(crate) kms_key_arn: String,
    pub(crate) tenant: TenantId,
    pub(crate) guard: Option<(Arc<PolicyGuard>, BTreeMap<String, String>)>,
}

/// The `x-amz-server-side-encryption-context` value: base64 of the JSON context.
pub fn encryption_context(tenant: &TenantId) -> String {
    use base64::Engine;
    let json = serde_json::json!({ "tenant_id": tenant.as_str() }).to_string();
    base64::engine::general_purpose::STANDARD.encode(json)
}

fn unavailable<E: std::fmt::Display>(e: E) -> ObjectError {
    ObjectError::Unavailable(e.to_string())
}

impl S3Objects {
    /// Our own keys only: a key outside the tenant's prefix is refused before any signing.
    fn own(&self, key: &str) -> Result<(), ObjectError> {
        if key.starts_with(&keys::tenant_object_prefix(&self.tenant)) && !key.contains("..") {
            Ok(())
        } else {
            Err(ObjectError::AccessDenied(format!(
                "{key} is outside the tenant's prefix"
            )))
        }
    }

    /// Locally: what IAM would decide when S3 receives this presigned request.
    fn check(&self, presigned: &PresignedRequest) -> Result<(), ObjectError> {
        let Some((guard, tags)) = &self.guard else {
            return Ok(());
        };
        let request = HttpRequest::try_from(presigned.make_http_1x_request(SdkBody::empty()))
            .map_err(unavailable)?;
        guard
            .decide(Service::S3, &request, tags)
            .map_err(ObjectError::AccessDenied)
    }

    fn url(presigned: &PresignedRequest, ttl: Duration) -> PresignedUrl {
        PresignedUrl {
            method: presigned.method().to_owned(),
            url: presigned.uri().to_owned(),
            headers: presigned
                .headers()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                .collect(),
            expires_in_seconds: ttl.as_secs(),
        }
    }

    fn config(ttl: Duration) -> Result<PresigningConfig, ObjectError> {
        PresigningConfig::expires_in(ttl.min(MAX_URL_TTL)).map_err(unavailable)
    }
}

fn s3_error<E, R>(e: aws_sdk_s3::error::SdkError<E, R>) -> ObjectError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let denied = e
        .raw_response()
        .is_some_and(|_| format!("{e:?}").contains("AccessDenied"));
    let text = format!("{}", aws_sdk_s3::error::DisplayErrorContext(e));
    if denied || text.contains("AccessDenied") {
        ObjectError::AccessDenied(text)
    } else {
        ObjectError::Unavailable(text)
    }
}

impl ObjectStore for S3Objects {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size_bytes: u64,
        ttl: Duration,
    ) -> Result<PresignedUrl, ObjectError> {
        self.own(key)?;
        let ttl = ttl.min(MAX_URL_TTL);
        let length = i64::try_from(size_bytes).map_err(unavailable)?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&self.kms_key_arn)
            .ssekms_encryption_context(encryption_context(&self.tenant))
            // Per-object data keys, so the tenant's context reaches KMS (a bucket key would
            // replace it with the bucket's ARN).
            .bucket_key_enabled(false)
            .presigned(Self::config(ttl)?)
            .await
            .map_err(unavailable)?;
        self.check(&presigned)?;
        Ok(Self::url(&presigned, ttl))
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<PresignedUrl, ObjectError> {
        self.own(key)?;
        let ttl = ttl.min(MAX_URL_TTL);
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(Self::config(ttl)?)
            .await
            .map_err(unavailable)?;
        self.check(&presigned)?;
        Ok(Self::url(&presigned, ttl))
    }

    async fn put(&self, key: &str, content_type: &str, body: Vec<u8>) -> Result<(), ObjectError> {
        self.own(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&self.kms_key_arn)
            .ssekms_encryption_context(encryption_context(&self.tenant))
            .bucket_key_enabled(false)
            .body(aws_sdk_s3::primitives::ByteStream::from(body))
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }
}

/// The KMS request S3 makes on the caller's behalf for an SSE-KMS PutObject (key, encryption
/// context), from the request's headers. The guard evaluates it too, so a put without the
/// tenant's encryption context is refused locally as KMS would refuse it in AWS.
pub fn implied_kms_context(
    header: &dyn Fn(&str) -> Option<String>,
) -> Option<(Option<String>, HashMap<String, String>)> {
    use base64::Engine;
    if header("x-amz-server-side-encryption")? != "aws:kms" {
        return None;
    }
    let key = header("x-amz-server-side-encryption-aws-kms-key-id");
    let context = header("x-amz-server-side-encryption-context")
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|raw| serde_json::from_slice::<HashMap<String, String>>(&raw).ok())
        .unwrap_or_default();
    Some((key, context))
}
