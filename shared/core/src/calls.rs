//! Calls from the telephony provider: a signed webhook reports each call (inbound or
//! outbound, the numbers, duration, start, whether there is a recording) and, later, its
//! transcript.
//!
//! Which tenant: each tenant's numbers are configured at the provider with a webhook URL
//! that carries the tenant id and a token made by the operator with the webhook secret:
//! HMAC-SHA256 of `fieldvault-telephony-tenant:<tenant>`. The URL's tenant is used only when
//! its token verifies; nothing in an unsigned place can name a tenant. The provider signs
//! each delivery for the URL it goes to: `"<t>.<tenant>.<raw body>"` (`sign_delivery`), so a
//! delivery for one tenant's URL, replayed at another tenant's URL (whose token the replayer
//! may know), does not verify there.
//!
//! The recording: providers host recordings and hand them over after the call. Here the
//! webhook answers the call event with a presigned PUT (tenant prefix, SSE-KMS under the
//! tenant's context, exact length and type, 5 minutes) and the provider uploads the audio to
//! it: Fieldvault never holds a bucket credential outside a tenant session, and the audio
//! never passes through a Lambda (which would cap it at 6 MB). Transcripts are small text:
//! they arrive in the event and the webhook stores them itself.
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::evidence::{EvidenceUpload, PresignedUrl};
use crate::ids::{CustomerId, EvidenceId, LeadId, TenantId};
use crate::problem::ApiError;
use crate::webhook::WebhookError;

/// The header the telephony provider signs with (`t=…,v1=…`, as `webhook.rs` verifies).
pub const SIGNATURE_HEADER: &str = "fieldvault-telephony-signature";
/// Query parameters of the per-tenant webhook URL.
pub const TENANT_PARAM: &str = "tenant";
pub const TENANT_TOKEN_PARAM: &str = "tenant_token";
const TENANT_TOKEN_LABEL: &str = "fieldvault-telephony-tenant:";
/// The longest transcript accepted in an event (characters).
pub const MAX_TRANSCRIPT_CHARS: usize = 50_000;

fn tenant_mac(secret: &[u8], tenant: &TenantId) -> Option<[u8; 32]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(TENANT_TOKEN_LABEL.as_bytes());
    mac.update(tenant.as_str().as_bytes());
    Some(mac.finalize().into_bytes().into())
}

/// The token the operator puts in a tenant's webhook URL.
pub fn tenant_token(secret: &[u8], tenant: &TenantId) -> String {
    tenant_mac(secret, tenant)
        .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default()
}

/// The signature header the provider sends with a delivery to `tenant`'s URL (its value of
/// `SIGNATURE_HEADER`): `t=…,v1=…` over `"<t>.<tenant>.<raw body>"`.
pub fn sign_delivery(secret: &[u8], timestamp: i64, tenant: &TenantId, body: &[u8]) -> String {
    crate::webhook::sign_scoped(secret, timestamp, Some(tenant.as_str()), body)
}

/// Accept the URL's tenant only if its token was made by one of `secrets`.
pub fn verify_tenant_token(
    tenant: &TenantId,
    token: Option<&str>,
    secrets: &[Vec<u8>],
) -> Result<(), WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::NoSecrets);
    }
    let token = token.ok_or(WebhookError::Missing)?;
    if token.len() != 64 || !token.is_ascii() {
        return Err(WebhookError::Malformed);
    }
    let mut raw = [0u8; 32];
    for (i, byte) in raw.iter_mut().enumerate() {
        *byte = token
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or(WebhookError::Malformed)?;
    }
    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        if let Some(expected) = tenant_mac(secret, tenant) {
            matched |= expected.ct_eq(&raw);
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(WebhookError::Mismatch)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// An event from the telephony provider (our documented webhook format).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelephonyEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub call: Option<CallData>,
    #[serde(default)]
    pub transcript: Option<TranscriptData>,
}

pub const CALL_COMPLETED: &str = "call.completed";
pub const CALL_TRANSCRIBED: &str = "call.transcribed";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallData {
    pub call_id: String,
    pub direction: Direction,
    pub from: String,
    pub to: String,
    pub duration_seconds: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// The caller's name as the network reports it (caller id), if any.
    #[serde(default)]
    pub caller_name: Option<String>,
    /// The recording the provider will upload, if the call was recorded.
    #[serde(default)]
    pub recording: Option<RecordingData>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingData {
    pub content_type: String,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptData {
    pub call_id: String,
    pub text: String,
}

/// A provider id (event or call): a short token, safe in keys and object names.
pub fn is_provider_id(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A recorded call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Call {
    /// The telephony provider's call id.
    pub id: String,
    pub tenant_id: TenantId,
    pub direction: Direction,
    pub from: String,
    pub to: String,
    pub duration_seconds: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub started_at: OffsetDateTime,
    pub customer_id: CustomerId,
    /// The lead the call created (inbound calls, and outbound calls to a new contact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<LeadId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_evidence_id: Option<EvidenceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_evidence_id: Option<EvidenceId>,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub received_at: OffsetDateTime,
    pub version: u64,
}

impl Call {
    pub fn to_item(&self) -> crate::store::Item {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => crate::store::Item::new(),
        }
    }

    /// Its entry in the customer's call list sorts by start time.
    pub fn list_sort(&self) -> String {
        let at = self
            .started_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        format!("{at}#{}", self.id)
    }
}

/// What the webhook answers.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CallReceipt {
    pub received: bool,
    /// The event (or the call) was already recorded: nothing changed.
    pub duplicate: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<Call>,
    /// For a recorded call: where the provider uploads the recording (PUT, 5 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_upload: Option<EvidenceUpload>,
}

/// Check a call event's fields; the provider's numbers are normalized like any phone.
pub fn check_call(c: &CallData) -> Result<(), ApiError> {
    if !is_provider_id(&c.call_id) {
        return Err(ApiError::bad_request("the call id is malformed"));
    }
    if c.duration_seconds > 24 * 3600 {
        return Err(ApiError::bad_request("the call is longer than a day"));
    }
    if c.caller_name
        .as_deref()
        .is_some_and(|n| n.chars().count() > 200)
    {
        return Err(ApiError::bad_request("the caller name is too long"));
    }
    Ok(())
}

/// The presigned PUT a provider uploads a recording to (kept separate for the receipt).
pub fn upload_of(e: &crate::evidence::Evidence, url: PresignedUrl) -> EvidenceUpload {
    EvidenceUpload {
        evidence: e.clone(),
        upload: url,
    }
}

/// Receiving events and listing calls.
pub mod store {
    use super::*;
    use crate::actions::Action;
    use crate::authz::Resource;
    use crate::customer::Customer;
    use crate::evidence::{Evidence, EvidenceKind, ObjectStore, UPLOAD_TTL};
    use crate::intake::store::{find_customer, record, Recorded};
    use crate::intake::{Intake, IntakeContact, IntakeInput, Lead, LeadSource};
    use crate::keys;
    use crate::request::{store_error, Ctx};
    use crate::routes::PageOf;
    use crate::store::{Condition, Item, StoreError, TenantStore, Write};

    fn receipt(duplicate: bool, call: Option<Call>, upload: Option<EvidenceUpload>) -> CallReceipt {
        CallReceipt {
            received: true,
            duplicate,
            call,
            recording_upload: upload,
        }
    }

    fn marker(t: &TenantId, event_id: &str) -> Write {
        Write::Put {
            key: keys::telephony_event(t, event_id),
            index: None,
            item: Item::new(),
            condition: Condition::NotExists,
        }
    }

    fn call_write(call: &Call, condition: Condition) -> Write {
        Write::Put {
            key: keys::call(&call.tenant_id, &call.id),
            index: Some(keys::customer_calls_index(
                &call.tenant_id,
                &call.customer_id,
                &call.list_sort(),
            )),
            item: call.to_item(),
            condition,
        }
    }

    fn evidence_write(e: &Evidence) -> Write {
        Write::Put {
            key: keys::call_evidence(&e.tenant_id, &e.id),
            index: None,
            item: e.to_item(),
            condition: Condition::NotExists,
        }
    }

    /// One verified event, inside the tenant the webhook URL's token named.
    pub async fn receive<S: TenantStore, O: ObjectStore>(
        cx: &Ctx<'_, S>,
        objects: &O,
        event: &TelephonyEvent,
    ) -> Result<CallReceipt, ApiError> {
        if !is_provider_id(&event.id) {
            return Err(ApiError::bad_request("the event id is malformed"));
        }
        let t = &cx.caller.tenant;
        // Redeliveries stop here; the marker in each event's transaction makes it exact.
        if cx
            .store
            .get(&keys::telephony_event(t, &event.id))
            .await
            .map_err(store_error)?
            .is_some()
        {
            return Ok(receipt(true, None, None));
        }
        match event.kind.as_str() {
            CALL_COMPLETED => call_completed(cx, objects, event).await,
            CALL_TRANSCRIBED => transcribed(cx, objects, event).await,
            // Acknowledged so the provider stops redelivering; nothing to record.
            _ => Ok(receipt(false, None, None)),
        }
    }

    async fn call_completed<S: TenantStore, O: ObjectStore>(
        cx: &Ctx<'_, S>,
        objects: &O,
        event: &TelephonyEvent,
    ) -> Result<CallReceipt, ApiError> {
        let t = &cx.caller.tenant;
        let c = event
            .call
            .as_ref()
            .ok_or_else(|| ApiError::bad_request("a call event without a call"))?;
        check_call(c)?;
        if cx.get::<Call>(&keys::call(t, &c.call_id)).await?.is_some() {
            return Ok(receipt(true, None, None));
        }
        let external = match c.direction {
            Direction::Inbound => &c.from,
            Direction::Outbound => &c.to,
        };
        let name = c
            .caller_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Caller {}", external.trim()));
        let direction = match c.direction {
            Direction::Inbound => "Inbound",
            Direction::Outbound => "Outbound",
        };
        let parsed = Intake::parse(&IntakeInput {
            source: LeadSource::Call,
            contact: IntakeContact {
                name,
                phone: Some(external.clone()),
                email: None,
                sms_consent: false,
                email_consent: false,
            },
            notes: Some(format!("{direction} call, {} s", c.duration_seconds)),
            campaign: None,
            service_address: None,
        })?;
        // The recording: checked against the kind's allowlist, then a PUT URL for the provider
        // (presigning has no side effect; it is handed out only if the commit succeeds).
        let recording = match &c.recording {
            Some(r) => {
                let content_type = EvidenceKind::Recording
                    .check(&r.content_type, r.size_bytes)
                    .map_err(|errors| ApiError::BadRequest {
                        detail: "the recording is invalid".into(),
                        errors,
                    })?;
                let id = EvidenceId::new(cx.ids.ulid());
                let key = keys::call_object(t, &c.call_id, &id);
                let url = objects
                    .presign_put(&key, &content_type, r.size_bytes, UPLOAD_TTL)
                    .await?;
                Some((id, key, content_type, r.size_bytes, url))
            }
            None => None,
        };
        let build = |lead: Option<&Lead>, customer: CustomerId| {
            let call = Call {
                id: c.call_id.clone(),
                tenant_id: t.clone(),
                direction: c.direction,
                from: c.from.clone(),
                to: c.to.clone(),
                duration_seconds: c.duration_seconds,
                started_at: c.started_at,
                customer_id: customer,
                lead_id: lead.map(|l| l.id),
                recording_evidence_id: recording.as_ref().map(|r| r.0),
                transcript_evidence_id: None,
                received_at: cx.now(),
                version: 1,
            };
            let evidence = recording.as_ref().map(|(id, key, ct, size, _)| Evidence {
                id: *id,
                tenant_id: t.clone(),
                kind: EvidenceKind::Recording,
                job_id: None,
                call_id: Some(call.id.clone()),
                customer_id: Some(customer),
                lead_id: call.lead_id,
                object_key: key.clone(),
                content_type: ct.clone(),
                size_bytes: *size,
                file_name: None,
                created_at: cx.now(),
                created_by: cx.caller.user.clone(),
            });
            let mut writes = vec![
                marker(t, &event.id),
                call_write(&call, Condition::NotExists),
            ];
            writes.extend(evidence.iter().map(evidence_write));
            (call, evidence, writes)
        };
        let upload = |evidence: Option<Evidence>| {
            evidence
                .zip(recording.as_ref())
                .map(|(e, r)| EvidenceUpload {
                    evidence: e,
                    upload: r.4.clone(),
                })
        };
        // An outbound call to someone we know links to them; everything else is a lead
        // (matched to the customer by phone, or a new customer), recorded like an intake.
        if c.direction == Direction::Outbound {
            if let Some(customer) = find_customer(cx, &parsed.contact_points).await? {
                let (call, evidence, writes) = build(None, customer.id);
                let after = serde_json::json!({ "call": call, "recording": evidence });
                return match cx
                    .commit(
                        Action::ReceiveCall,
                        &format!("call/{}", call.id),
                        writes,
                        None,
                        Some(&after),
                    )
                    .await
                {
                    Ok(()) => Ok(receipt(false, Some(call), upload(evidence))),
                    Err(StoreError::ConditionFailed { index }) if index < 2 => {
                        Ok(receipt(true, None, None))
                    }
                    Err(e) => Err(store_error(e)),
                };
            }
        }
        let recorded = record(
            cx,
            &parsed,
            Action::ReceiveCall,
            |lead, customer: &Customer| {
                let (call, evidence, writes) = build(Some(lead), customer.id);
                (
                    writes,
                    serde_json::json!({ "call": call, "recording": evidence }),
                )
            },
        )
        .await?;
        match recorded {
            Recorded::Done(result) => {
                let (call, evidence, _) = build(Some(&result.lead), result.customer.id);
                Ok(receipt(false, Some(call), upload(evidence)))
            }
            Recorded::ExtraConflict => Ok(receipt(true, None, None)),
        }
    }

    async fn transcribed<S: TenantStore, O: ObjectStore>(
        cx: &Ctx<'_, S>,
        objects: &O,
        event: &TelephonyEvent,
    ) -> Result<CallReceipt, ApiError> {
        let t = &cx.caller.tenant;
        let tr = event
            .transcript
            .as_ref()
            .ok_or_else(|| ApiError::bad_request("a transcript event without a transcript"))?;
        if !is_provider_id(&tr.call_id) {
            return Err(ApiError::bad_request("the call id is malformed"));
        }
        if tr.text.trim().is_empty() || tr.text.chars().count() > MAX_TRANSCRIPT_CHARS {
            return Err(ApiError::bad_request(format!(
                "the transcript must have 1 to {MAX_TRANSCRIPT_CHARS} characters"
            )));
        }
        // Before its call: a conflict, so the provider redelivers later.
        let call: Call = cx
            .get(&keys::call(t, &tr.call_id))
            .await?
            .ok_or_else(|| ApiError::Conflict("the call is not recorded yet".into()))?;
        if call.transcript_evidence_id.is_some() {
            return Ok(receipt(true, Some(call), None));
        }
        let id = EvidenceId::new(cx.ids.ulid());
        let body = tr.text.as_bytes().to_vec();
        let size_bytes = body.len() as u64;
        let content_type = EvidenceKind::Transcript
            .check("text/plain", size_bytes)
            .map_err(|errors| ApiError::BadRequest {
                detail: "the transcript is invalid".into(),
                errors,
            })?;
        let evidence = Evidence {
            id,
            tenant_id: t.clone(),
            kind: EvidenceKind::Transcript,
            job_id: None,
            call_id: Some(call.id.clone()),
            customer_id: Some(call.customer_id),
            lead_id: call.lead_id,
            object_key: keys::call_object(t, &call.id, &id),
            content_type,
            size_bytes,
            file_name: None,
            created_at: cx.now(),
            created_by: cx.caller.user.clone(),
        };
        // The object first: if the commit below fails, the object has no record, so it is
        // never listed or served, and the redelivery stores a new one.
        objects
            .put(&evidence.object_key, &evidence.content_type, body)
            .await?;
        let mut updated = call.clone();
        updated.transcript_evidence_id = Some(id);
        updated.version += 1;
        let writes = vec![
            marker(t, &event.id),
            call_write(&updated, Condition::VersionIs(call.version)),
            evidence_write(&evidence),
        ];
        match cx
            .commit_change(
                Action::ReceiveCall,
                &format!("call/{}", call.id),
                writes,
                Some(&call),
                &updated,
                "call",
            )
            .await
        {
            Ok(()) => Ok(receipt(false, Some(updated), None)),
            Err(e) => Err(e),
        }
    }

    /// `GET /customers/{id}/calls`: the office only (calls are refused to technicians here
    /// and at the data layer).
    pub async fn list_for_customer<S: TenantStore>(
        cx: &Ctx<'_, S>,
        raw_customer: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<PageOf<Call>, ApiError> {
        let t = &cx.caller.tenant;
        let id = CustomerId::parse(raw_customer).map_err(|_| ApiError::NotFound)?;
        let customer = cx
            .store
            .get_record::<Customer>(&keys::customer(t, &id))
            .await
            .map_err(store_error)?
            .ok_or(ApiError::NotFound)?;
        cx.authorize(
            Action::ListCalls,
            &Resource::Customer {
                tenant: t.clone(),
                id,
                assigned_technicians: customer.assigned_technicians.clone(),
            },
        )
        .await?;
        cx.page(true, keys::customer_calls(t, &id), limit, cursor, false)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_tokens_bind_the_tenant_and_rotate_with_the_secrets() {
        let acme = TenantId::parse("acme").expect("tenant");
        let other = TenantId::parse("other").expect("tenant");
        let secrets = vec![
            b"new-secret-0123456789".to_vec(),
            b"old-secret-0123456789".to_vec(),
        ];
        for s in &secrets {
            let token = tenant_token(s, &acme);
            assert_eq!(verify_tenant_token(&acme, Some(&token), &secrets), Ok(()));
            assert_eq!(
                verify_tenant_token(&other, Some(&token), &secrets),
                Err(WebhookError::Mismatch)
            );
        }
        let forged = tenant_token(b"attacker-secret-000000", &acme);
        assert_eq!(
            verify_tenant_token(&acme, Some(&forged), &secrets),
            Err(WebhookError::Mismatch)
        );
        assert_eq!(
            verify_tenant_token(&acme, None, &secrets),
            Err(WebhookError::Missing)
        );
        assert_eq!(
            verify_tenant_token(&acme, Some("zz"), &secrets),
            Err(WebhookError::Malformed)
        );
        assert_eq!(
            verify_tenant_token(&acme, Some(&forged), &[]),
            Err(WebhookError::NoSecrets)
        );
    }

    #[test]
    fn provider_ids_are_plain_tokens() {
        assert!(is_provider_id("CA0123_ab-9"));
        for bad in ["", "a#b", "a/b", "../x", &"x".repeat(65)] {
            assert!(!is_provider_id(bad), "{bad}");
        }
    }
}
