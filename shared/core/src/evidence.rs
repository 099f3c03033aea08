//! Evidence: photos, videos and documents of a job; recordings and transcripts of calls.
//!
//! The bytes live in S3 under `tenants/<tenant>/…`, encrypted with the data key under the
//! encryption context {tenant_id}; only metadata lives in the table. Clients never get a
//! bucket credential: uploads go through a presigned PUT that binds the content type, the
//! exact length and the SSE-KMS headers; downloads through a presigned GET valid for at most
//! five minutes, signed with the tenant session's credentials (so IAM applies when S3 checks
//! it) and issued only after the policy allowed it and the access record was written.
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{CustomerId, EvidenceId, JobId, LeadId, TenantId, UserId};
use crate::problem::{ApiError, FieldError};

/// The longest a presigned URL may live (S3 enforces `X-Amz-Expires`; we never ask more).
pub const MAX_URL_TTL: Duration = Duration::from_secs(300);
/// Download URLs: the user's browser fetches at once.
pub const DOWNLOAD_TTL: Duration = Duration::from_secs(300);
/// Upload URLs: a phone on a slow network starts the PUT within this window.
pub const UPLOAD_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    Photo,
    Video,
    Document,
    /// A call recording (from the telephony provider only).
    Recording,
    /// A call transcript (from the telephony provider only).
    Transcript,
}

impl EvidenceKind {
    /// The content types accepted for this kind (exact, lowercase, without parameters).
    pub fn allowed_types(self) -> &'static [&'static str] {
        match self {
            EvidenceKind::Photo => &["image/jpeg", "image/png", "image/heic", "image/webp"],
            EvidenceKind::Video => &["video/mp4", "video/quicktime"],
            EvidenceKind::Document => &["application/pdf", "text/plain"],
            EvidenceKind::Recording => &["audio/mpeg", "audio/wav", "audio/mp4", "audio/ogg"],
            EvidenceKind::Transcript => &["text/plain"],
        }
    }

    /// The largest object of this kind, in bytes (single presigned PUTs go up to 5 GB).
    pub fn max_bytes(self) -> u64 {
        const MIB: u64 = 1024 * 1024;
        match self {
            EvidenceKind::Photo => 25 * MIB,
            EvidenceKind::Video => 500 * MIB,
            EvidenceKind::Document => 25 * MIB,
            EvidenceKind::Recording => 200 * MIB,
            EvidenceKind::Transcript => MIB,
        }
    }

    /// Staff upload these for jobs; recordings and transcripts come only from calls.
    pub fn for_jobs(self) -> bool {
        matches!(
            self,
            EvidenceKind::Photo | EvidenceKind::Video | EvidenceKind::Document
        )
    }

    /// Check a declared object against this kind's limits.
    pub fn check(self, content_type: &str, size_bytes: u64) -> Result<String, Vec<FieldError>> {
        let mut errors = Vec::new();
        let ct = content_type.trim().to_ascii_lowercase();
        if !self.allowed_types().contains(&ct.as_str()) {
            errors.push(FieldError {
                field: "content_type".into(),
                message: format!("must be one of {}", self.allowed_types().join(", ")),
            });
        }
        if size_bytes == 0 || size_bytes > self.max_bytes() {
            errors.push(FieldError {
                field: "size_bytes".into(),
                message: format!("must be from 1 to {} bytes", self.max_bytes()),
            });
        }
        if errors.is_empty() {
            Ok(ct)
        } else {
            Err(errors)
        }
    }
}

/// `POST /jobs/{id}/evidence`: what the client is about to upload.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvidence {
    /// photo, video or document.
    pub kind: EvidenceKind,
    pub content_type: String,
    /// The exact size of the upload: the presigned PUT is signed for this Content-Length.
    pub size_bytes: u64,
    #[serde(default)]
    pub file_name: Option<String>,
}

/// A checked upload request for a job.
pub fn check_new(input: &NewEvidence) -> Result<(String, Option<String>), ApiError> {
    let mut errors = Vec::new();
    if !input.kind.for_jobs() {
        errors.push(FieldError {
            field: "kind".into(),
            message: "must be photo, video or document".into(),
        });
    }
    let content_type = match input.kind.check(&input.content_type, input.size_bytes) {
        Ok(ct) => Some(ct),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    let file_name = input
        .file_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if file_name.is_some_and(|n| {
        n.chars().count() > 200 || n.chars().any(|c| c.is_control() || c == '/' || c == '\\')
    }) {
        errors.push(FieldError {
            field: "file_name".into(),
            message: "at most 200 characters, no path separators or control characters".into(),
        });
    }
    match content_type {
        Some(ct) if errors.is_empty() => Ok((ct, file_name.map(str::to_owned))),
        _ => Err(ApiError::BadRequest {
            detail: "the evidence is invalid".into(),
            errors,
        }),
    }
}

/// One piece of evidence: metadata only; the bytes are the S3 object `object_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Evidence {
    pub id: EvidenceId,
    pub tenant_id: TenantId,
    pub kind: EvidenceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    /// The telephony provider's call id, for recordings and transcripts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<LeadId>,
    pub object_key: String,
    pub content_type: String,
    pub size_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub created_at: OffsetDateTime,
    pub created_by: UserId,
}

impl Evidence {
    pub fn to_item(&self) -> crate::store::Item {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => crate::store::Item::new(),
        }
    }
}

/// A presigned request: send exactly this method, URL and these headers (they are signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PresignedUrl {
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub expires_in_seconds: u64,
}

/// What `POST /jobs/{id}/evidence` answers.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EvidenceUpload {
    pub evidence: Evidence,
    pub upload: PresignedUrl,
}

/// What `GET /evidence/{id}/download` answers.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct EvidenceDownload {
    pub evidence: Evidence,
    pub download: PresignedUrl,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// IAM (or the local guard) refused the request.
    #[error("access denied by the object store: {0}")]
    AccessDenied(String),
    #[error("object store unavailable: {0}")]
    Unavailable(String),
}

impl From<ObjectError> for ApiError {
    fn from(e: ObjectError) -> ApiError {
        match e {
            ObjectError::AccessDenied(_) => ApiError::Forbidden,
            ObjectError::Unavailable(d) => ApiError::Unavailable(d),
        }
    }
}

/// The port to the evidence bucket, bound to one tenant session (its credentials sign).
pub trait ObjectStore: Send + Sync {
    /// A PUT URL bound to this key, content type, exact length and the tenant's SSE-KMS headers.
    fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        size_bytes: u64,
        ttl: Duration,
    ) -> impl Future<Output = Result<PresignedUrl, ObjectError>> + Send;
    /// A GET URL for this key.
    fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<PresignedUrl, ObjectError>> + Send;
    /// Store an object server-side (transcripts), SSE-KMS under the tenant's context.
    fn put(
        &self,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), ObjectError>> + Send;
}

/// Evidence operations shared by the functions.
pub mod store {
    use super::*;
    use crate::actions::Action;
    use crate::authz::Resource;
    use crate::keys;
    use crate::request::Ctx;
    use crate::routes::PageOf;
    use crate::store::{Condition, TenantStore, Write};

    fn ttl_checked(ttl: Duration) -> Duration {
        ttl.min(MAX_URL_TTL)
    }

    /// `POST /jobs/{id}/evidence`: the job's office or its assigned technician gets a PUT URL
    /// and the evidence record is committed (audited) with it.
    pub async fn create_for_job<S: TenantStore, O: ObjectStore>(
        cx: &Ctx<'_, S>,
        objects: &O,
        raw_job: &str,
        input: &NewEvidence,
    ) -> Result<EvidenceUpload, ApiError> {
        let job = crate::job::store::load(cx, raw_job, Action::UploadEvidence).await?;
        let (content_type, file_name) = check_new(input)?;
        let t = &cx.caller.tenant;
        let id = EvidenceId::new(cx.ids.ulid());
        let evidence = Evidence {
            id,
            tenant_id: t.clone(),
            kind: input.kind,
            job_id: Some(job.id),
            call_id: None,
            customer_id: Some(job.customer_id),
            lead_id: None,
            object_key: keys::job_evidence_object(t, &job.id, &id),
            content_type,
            size_bytes: input.size_bytes,
            file_name,
            created_at: cx.now(),
            created_by: cx.caller.user.clone(),
        };
        // Presigning has no side effect: if the commit fails, the URL is never handed out.
        let upload = objects
            .presign_put(
                &evidence.object_key,
                &evidence.content_type,
                evidence.size_bytes,
                ttl_checked(UPLOAD_TTL),
            )
            .await?;
        let write = Write::Put {
            key: keys::evidence(t, &id),
            index: Some(keys::job_evidence_index(t, &job.id, &id)),
            item: evidence.to_item(),
            condition: Condition::NotExists,
        };
        cx.commit_change(
            Action::UploadEvidence,
            &format!("evidence/{id}"),
            vec![write],
            None::<&Evidence>,
            &evidence,
            "evidence",
        )
        .await?;
        Ok(EvidenceUpload { evidence, upload })
    }

    /// `GET /jobs/{id}/evidence`.
    pub async fn list_for_job<S: TenantStore>(
        cx: &Ctx<'_, S>,
        raw_job: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<PageOf<Evidence>, ApiError> {
        let job = crate::job::store::load(cx, raw_job, Action::ListEvidence).await?;
        cx.page(
            true,
            keys::job_evidence(&cx.caller.tenant, &job.id),
            limit,
            cursor,
            false,
        )
        .await
    }

    /// `GET /evidence/{id}/download`: policy first, then the access record (fail closed: no
    /// record, no URL), then the URL.
    pub async fn download<S: TenantStore, O: ObjectStore>(
        cx: &Ctx<'_, S>,
        objects: &O,
        raw_id: &str,
    ) -> Result<EvidenceDownload, ApiError> {
        let t = &cx.caller.tenant;
        let id = EvidenceId::parse(raw_id).map_err(|_| ApiError::NotFound)?;
        let resource = format!("evidence/{id}");
        let evidence = match cx.get::<Evidence>(&keys::evidence(t, &id)).await? {
            Some(e) => {
                let job_id = e.job_id.ok_or(ApiError::NotFound)?;
                let job: crate::job::Job = cx
                    .get(&keys::job(t, &job_id))
                    .await?
                    .ok_or(ApiError::NotFound)?;
                cx.authorize(Action::DownloadEvidence, &crate::job::store::resource(&job))
                    .await?;
                e
            }
            None => {
                // Not job evidence: a recording or transcript, if anything. The policy decides
                // on the kind before the read (technician sessions may not even read call
                // records), so a technician learns nothing about which ids exist.
                cx.authorize(
                    Action::DownloadEvidence,
                    &Resource::Record {
                        tenant: t.clone(),
                        kind: "CallEvidence",
                        id: id.to_string(),
                    },
                )
                .await?;
                cx.get::<Evidence>(&keys::call_evidence(t, &id))
                    .await?
                    .ok_or(ApiError::NotFound)?
            }
        };
        let ttl = ttl_checked(DOWNLOAD_TTL);
        cx.commit_access(
            Action::DownloadEvidence,
            &resource,
            &serde_json::json!({
                "object_key": evidence.object_key,
                "kind": evidence.kind,
                "url_expires_in_seconds": ttl.as_secs(),
            }),
        )
        .await?;
        let download = objects.presign_get(&evidence.object_key, ttl).await?;
        Ok(EvidenceDownload { evidence, download })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caller::Role;
    use crate::memory::TestRig;
    use std::sync::Mutex;

    #[derive(Default)]
    struct FakeObjects {
        issued: Mutex<Vec<(String, String)>>,
    }

    impl ObjectStore for FakeObjects {
        async fn presign_put(
            &self,
            key: &str,
            _content_type: &str,
            _size: u64,
            ttl: Duration,
        ) -> Result<PresignedUrl, ObjectError> {
            self.issued
                .lock()
                .map_err(|_| ObjectError::Unavailable("poisoned".into()))?
                .push(("PUT".into(), key.into()));
            Ok(PresignedUrl {
                method: "PUT".into(),
                url: format!("https://s3.example/{key}"),
                headers: BTreeMap::new(),
                expires_in_seconds: ttl.as_secs(),
            })
        }
        async fn presign_get(&self, key: &str, ttl: Duration) -> Result<PresignedUrl, ObjectError> {
            self.issued
                .lock()
                .map_err(|_| ObjectError::Unavailable("poisoned".into()))?
                .push(("GET".into(), key.into()));
            Ok(PresignedUrl {
                method: "GET".into(),
                url: format!("https://s3.example/{key}"),
                headers: BTreeMap::new(),
                expires_in_seconds: ttl.as_secs(),
            })
        }
        async fn put(&self, _: &str, _: &str, _: Vec<u8>) -> Result<(), ObjectError> {
            Ok(())
        }
    }

    fn recording(rig: &TestRig) -> Evidence {
        let id = EvidenceId::new(ulid::Ulid::new());
        Evidence {
            id,
            tenant_id: rig.caller.tenant.clone(),
            kind: EvidenceKind::Recording,
            job_id: None,
            call_id: Some("CA1".into()),
            customer_id: None,
            lead_id: None,
            object_key: crate::keys::call_object(&rig.caller.tenant, "CA1", &id),
            content_type: "audio/mpeg".into(),
            size_bytes: 10,
            file_name: None,
            created_at: rig.meta.received_at,
            created_by: rig.caller.user.clone(),
        }
    }

    async fn seed(rig: &TestRig, e: &Evidence) {
        use crate::store::{Condition, TenantStore, Write};
        let record = rig.ctx().record(
            crate::actions::Action::ReceiveCall,
            "seed",
            crate::audit::Outcome::Success,
            None,
            None,
            None,
        );
        rig.store
            .commit(
                vec![Write::Put {
                    key: crate::keys::call_evidence(&rig.caller.tenant, &e.id),
                    index: None,
                    item: e.to_item(),
                    condition: Condition::NotExists,
                }],
                &record,
            )
            .await
            .expect("seed");
    }

    #[tokio::test]
    async fn no_access_record_no_url() {
        let rig = TestRig::new("acme", Role::Owner);
        let e = recording(&rig);
        seed(&rig, &e).await;
        let objects = FakeObjects::default();
        rig.store
            .fail_audit
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let got = store::download(&rig.ctx(), &objects, &e.id.to_string()).await;
        assert!(matches!(got, Err(ApiError::Unavailable(_))), "{got:?}");
        assert!(
            objects.issued.lock().map(|i| i.is_empty()).unwrap_or(false),
            "a URL was signed without its access record"
        );
        rig.store
            .fail_audit
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let ok = store::download(&rig.ctx(), &objects, &e.id.to_string())
            .await
            .expect("download");
        assert!(ok.download.expires_in_seconds <= 300);
        assert!(rig
            .audit_actions()
            .contains(&("evidence.download".into(), crate::audit::Outcome::Success)));
    }

    #[tokio::test]
    async fn recordings_are_refused_to_technicians_before_any_read_and_recorded() {
        let rig = TestRig::new("acme", Role::Technician);
        let objects = FakeObjects::default();
        let got = store::download(
            &rig.ctx(),
            &objects,
            &EvidenceId::new(ulid::Ulid::new()).to_string(),
        )
        .await;
        assert!(matches!(got, Err(ApiError::Forbidden)));
        assert_eq!(
            rig.audit_actions(),
            vec![("evidence.download".into(), crate::audit::Outcome::Denied)]
        );
        assert!(objects.issued.lock().map(|i| i.is_empty()).unwrap_or(false));
    }

    #[test]
    fn uploads_are_checked_against_the_kinds_allowlist_and_size() {
        let ok = NewEvidence {
            kind: EvidenceKind::Photo,
            content_type: "Image/JPEG".into(),
            size_bytes: 1000,
            file_name: Some("boiler.jpg".into()),
        };
        assert_eq!(
            check_new(&ok).map(|(ct, _)| ct),
            Ok("image/jpeg".to_owned())
        );
        for bad in [
            NewEvidence {
                content_type: "text/html".into(),
                ..ok.clone()
            },
            NewEvidence {
                size_bytes: 0,
                ..ok.clone()
            },
            NewEvidence {
                size_bytes: 26 * 1024 * 1024,
                ..ok.clone()
            },
            NewEvidence {
                kind: EvidenceKind::Recording,
                content_type: "audio/mpeg".into(),
                ..ok.clone()
            },
            NewEvidence {
                file_name: Some("../../x".into()),
                ..ok.clone()
            },
        ] {
            assert!(check_new(&bad).is_err(), "{bad:?}");
        }
    }
}
