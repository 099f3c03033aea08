//! Evidence and calls: presigned URLs (tenant prefix, ≤ 5 minutes, SSE-KMS and content
//! headers signed), an upload/download round trip through moto, the role matrix, an access
//! record for every download URL, cross-tenant ids, the guard on S3, and the telephony
//! webhook (signatures, tenant tokens, dedupe, lead/customer linking, recording, transcript).
//!
//! moto checks neither the expiry nor the signature of presigned URLs: these tests check what
//! our code controls (`X-Amz-Expires`, the key, the signed headers); S3 enforces them in AWS.
use fieldvault_core::caller::Role;
use fieldvault_core::calls::{sign_delivery, tenant_token, SIGNATURE_HEADER};
use fieldvault_core::webhook::sign;
use fieldvault_system_tests::{new_customer, Reply, Stack, TestTenant};
use serde_json::{json, Value};

use Role::*;

fn secrets() -> Vec<Vec<u8>> {
    std::env::var("FV_TELEPHONY_WEBHOOK_SECRETS")
        .expect("FV_TELEPHONY_WEBHOOK_SECRETS")
        .split(',')
        .map(|s| s.as_bytes().to_vec())
        .collect()
}

fn query_value(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.replace("%3B", ";").replace("%2F", "/"))
    })
}

/// A customer, a job for them, and a visit assigned to the tenant's technician.
async fn assigned_job(s: &Stack, t: &TestTenant) -> (String, String) {
    let owner = t.token(Owner);
    let c = s
        .post("/customers", owner, &new_customer("Evidence Customer"))
        .await;
    assert_eq!(c.status, 201, "{}", c.body);
    let customer = c.body["id"].as_str().expect("id").to_owned();
    let j = s
        .post(
            "/jobs",
            owner,
            &json!({"customer_id": customer, "title": "Boiler"}),
        )
        .await;
    assert_eq!(j.status, 201, "{}", j.body);
    let job = j.body["id"].as_str().expect("id").to_owned();
    let start = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    let v = s
        .post(
            &format!("/jobs/{job}/visits"),
            owner,
            &json!({"window_start": fmt(start), "window_end": fmt(start + time::Duration::hours(2)), "technician_id": t.user(Technician).id}),
        )
        .await;
    assert_eq!(v.status, 200, "{}", v.body);
    (customer, job)
}

async fn unassigned_job(s: &Stack, t: &TestTenant) -> String {
    let owner = t.token(Owner);
    let c = s
        .post("/customers", owner, &new_customer("Other Customer"))
        .await;
    let customer = c.body["id"].as_str().expect("id").to_owned();
    let j = s
        .post(
            "/jobs",
            owner,
            &json!({"customer_id": customer, "title": "Other"}),
        )
        .await;
    assert_eq!(j.status, 201, "{}", j.body);
    j.body["id"].as_str().expect("id").to_owned()
}

fn photo(size: usize) -> Value {
    json!({"kind": "photo", "content_type": "image/jpeg", "size_bytes": size, "file_name": "boiler.jpg"})
}

/// PUT the bytes to the presigned upload exactly as the API said.
async fn upload(s: &Stack, upload: &Value, bytes: Vec<u8>) -> u16 {
    let mut req = s.http.put(upload["url"].as_str().expect("url"));
    for (k, v) in upload["headers"].as_object().expect("headers") {
        if k == "content-length" {
            continue; // reqwest sets it from the body (the signed value must match)
        }
        req = req.header(k.as_str(), v.as_str().expect("header"));
    }
    req.body(bytes)
        .send()
        .await
        .expect("upload")
        .status()
        .as_u16()
}

#[tokio::test]
async fn presigned_urls_bind_the_tenant_prefix_expiry_type_length_and_kms_and_round_trip() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let (_, job) = assigned_job(&s, &t).await;
    let bytes = b"\xff\xd8\xff\xe0 a jpeg of a boiler".to_vec();
    let r = s
        .post(
            &format!("/jobs/{job}/evidence"),
            t.token(Technician),
            &photo(bytes.len()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.assert_security_headers();
    let up = &r.body["upload"];
    let url = up["url"].as_str().expect("url");
    let key = r.body["evidence"]["object_key"].as_str().expect("key");
    assert!(
        key.starts_with(&format!("tenants/{}/jobs/{job}/", t.id)),
        "{key}"
    );
    assert!(
        url.contains(&format!("/tenants/{}/jobs/{job}/", t.id)),
        "{url}"
    );
    let expires: u64 = query_value(url, "X-Amz-Expires")
        .expect("X-Amz-Expires")
        .parse()
        .expect("number");
    assert!(expires <= 300, "upload URL lives {expires} s");
    assert!(up["expires_in_seconds"].as_u64().is_some_and(|e| e <= 300));
    assert!(
        query_value(url, "X-Amz-Security-Token").is_some(),
        "signed by STS credentials"
    );
    let signed = query_value(url, "X-Amz-SignedHeaders").expect("signed headers");
    for h in [
        "content-length",
        "content-type",
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-server-side-encryption-context",
    ] {
        assert!(
            signed.split(';').any(|s| s == h),
            "{h} is not signed: {signed}"
        );
    }
    let headers = &up["headers"];
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(headers["content-length"], bytes.len().to_string());
    assert_eq!(headers["x-amz-server-side-encryption"], "aws:kms");
    use base64::Engine;
    let context: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(
                headers["x-amz-server-side-encryption-context"]
                    .as_str()
                    .expect("ctx"),
            )
            .expect("base64"),
    )
    .expect("json");
    assert_eq!(context, json!({"tenant_id": t.id.to_string()}));

    assert_eq!(upload(&s, up, bytes.clone()).await, 200);
    let id = r.body["evidence"]["id"].as_str().expect("id");
    let listed = s
        .get(&format!("/jobs/{job}/evidence"), t.token(Technician))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|e| e["id"] == id));

    let d = s
        .get(&format!("/evidence/{id}/download"), t.token(Technician))
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    let url = d.body["download"]["url"].as_str().expect("url");
    let expires: u64 = query_value(url, "X-Amz-Expires")
        .expect("X-Amz-Expires")
        .parse()
        .expect("number");
    assert!(expires <= 300, "download URL lives {expires} s");
    let got = s.http.get(url).send().await.expect("download");
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(
        got.headers()
            .get("x-amz-server-side-encryption")
            .and_then(|v| v.to_str().ok()),
        Some("aws:kms")
    );
    assert_eq!(got.bytes().await.expect("bytes").to_vec(), bytes);

    // Every URL issued has its access record, with who asked.
    let audit = s.audit(&t).await;
    assert!(audit.iter().any(|a| a["action"] == "evidence.download"
        && a["outcome"] == "success"
        && a["resource"] == format!("evidence/{id}")
        && a["actor_role"] == "technician"));
    assert!(audit
        .iter()
        .any(|a| a["action"] == "evidence.upload" && a["outcome"] == "success"));
}

#[tokio::test]
async fn uploads_outside_the_allowlist_or_size_are_refused_and_store_nothing() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let (_, job) = assigned_job(&s, &t).await;
    for bad in [
        json!({"kind": "photo", "content_type": "text/html", "size_bytes": 10}),
        json!({"kind": "photo", "content_type": "image/png", "size_bytes": 0}),
        json!({"kind": "video", "content_type": "video/mp4", "size_bytes": 600u64 * 1024 * 1024}),
        json!({"kind": "recording", "content_type": "audio/mpeg", "size_bytes": 10}),
        json!({"kind": "photo", "content_type": "image/png", "size_bytes": 10, "bucket": "x"}),
    ] {
        let r = s
            .post(&format!("/jobs/{job}/evidence"), t.token(Owner), &bad)
            .await;
        r.assert_problem(400);
    }
    let listed = s
        .get(&format!("/jobs/{job}/evidence"), t.token(Owner))
        .await;
    assert_eq!(listed.body["items"], json!([]));
}

#[tokio::test]
async fn evidence_by_role_and_across_tenants() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let other = s.tenant().await;
    let (_, job) = assigned_job(&s, &t).await;
    let not_theirs = unassigned_job(&s, &t).await;
    let up = s
        .post(&format!("/jobs/{job}/evidence"), t.token(Owner), &photo(4))
        .await;
    assert_eq!(up.status, 201, "{}", up.body);
    let id = up.body["evidence"]["id"].as_str().expect("id").to_owned();
    let office: &[Role] = &[Owner, Admin, Dispatcher];
    let with_tech: &[Role] = &[Owner, Admin, Dispatcher, Technician];
    fieldvault_system_tests::assert_role_matrix(
        &s,
        &t,
        &[
            (
                "POST",
                format!("/jobs/{job}/evidence"),
                Some(photo(4)),
                with_tech,
            ),
            ("GET", format!("/jobs/{job}/evidence"), None, with_tech),
            ("GET", format!("/evidence/{id}/download"), None, with_tech),
            (
                "POST",
                format!("/jobs/{not_theirs}/evidence"),
                Some(photo(4)),
                office,
            ),
            ("GET", format!("/jobs/{not_theirs}/evidence"), None, office),
        ],
    )
    .await;
    // Another tenant's ids reach nothing, whatever the role.
    for role in [Owner, Admin, Dispatcher] {
        s.get(&format!("/evidence/{id}/download"), other.token(role))
            .await
            .assert_problem(404);
        s.get(&format!("/jobs/{job}/evidence"), other.token(role))
            .await
            .assert_problem(404);
        s.post(
            &format!("/jobs/{job}/evidence"),
            other.token(role),
            &photo(4),
        )
        .await
        .assert_problem(404);
    }
    s.get("/evidence/not-an-id/download", t.token(Owner))
        .await
        .assert_problem(404);
}

#[tokio::test]
async fn the_guard_refuses_another_tenants_prefix_and_context_from_a_tenant_session() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let other = s.tenant().await;
    let settings = s.settings();
    let bucket = settings.evidence_bucket.clone().expect("bucket");
    let sessions = s.sessions();
    let owner = t.user(Owner);
    let session = sessions
        .session(&t.id, Owner, &owner.id)
        .await
        .expect("session");
    let denied = |e: String| {
        assert!(e.contains("AccessDenied"), "not refused by the guard: {e}");
    };
    // Reading or writing under another tenant's prefix.
    let got = session
        .s3()
        .get_object()
        .bucket(&bucket)
        .key(format!("tenants/{}/jobs/x/y", other.id))
        .send()
        .await;
    denied(format!("{:?}", got.expect_err("refused")));
    let put = session
        .s3()
        .put_object()
        .bucket(&bucket)
        .key(format!("tenants/{}/jobs/x/y", other.id))
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await;
    denied(format!("{:?}", put.expect_err("refused")));
    // Its own prefix, but encrypted under another tenant's context (S3 would ask KMS).
    let foreign = fieldvault_aws::objects::encryption_context(&other.id);
    let put = session
        .s3()
        .put_object()
        .bucket(&bucket)
        .key(format!("tenants/{}/jobs/x/y", t.id))
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
        .ssekms_encryption_context(foreign)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await;
    denied(format!("{:?}", put.expect_err("refused")));
    // Listing the bucket is not in the role at all.
    let list = session.s3().list_objects_v2().bucket(&bucket).send().await;
    denied(format!("{:?}", list.expect_err("refused")));
    // Presigning for another tenant's key is refused before any URL exists.
    use fieldvault_core::evidence::ObjectStore;
    let objects = session.objects().expect("objects");
    assert!(objects
        .presign_get(
            &format!("tenants/{}/jobs/x/y", other.id),
            std::time::Duration::from_secs(60)
        )
        .await
        .is_err());
    // A technician session is refused call objects even in its own tenant.
    let tech = sessions
        .session(&t.id, Technician, &t.user(Technician).id)
        .await
        .expect("session");
    let got = tech
        .s3()
        .get_object()
        .bucket(&bucket)
        .key(format!("tenants/{}/calls/CA1/x", t.id))
        .send()
        .await;
    denied(format!("{:?}", got.expect_err("refused")));
}

// --- the telephony webhook -------------------------------------------------------------

fn webhook_path(tenant: &str, token: &str) -> String {
    format!("/webhooks/telephony?tenant={tenant}&tenant_token={token}")
}

async fn deliver(s: &Stack, path: &str, body: &str, signature: Option<String>) -> Reply {
    let mut req = s
        .http
        .post(format!("{}{path}", s.api))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(sig) = signature {
        req = req.header(SIGNATURE_HEADER, sig);
    }
    s.send(req).await
}

async fn signed(s: &Stack, t: &TestTenant, body: &Value) -> Reply {
    let secret = &secrets()[0];
    let raw = body.to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    deliver(
        s,
        &webhook_path(t.id.as_str(), &tenant_token(secret, &t.id)),
        &raw,
        Some(sign_delivery(secret, now, &t.id, raw.as_bytes())),
    )
    .await
}

fn unique_phone() -> String {
    format!("+1555{:07}", ulid::Ulid::new().random() % 10_000_000)
}

fn call_event(
    event: &str,
    call: &str,
    direction: &str,
    from: &str,
    to: &str,
    recording: bool,
) -> Value {
    let mut c = json!({
        "call_id": call, "direction": direction, "from": from, "to": to,
        "duration_seconds": 184, "started_at": "2026-05-09T10:00:00Z",
    });
    if recording {
        c["recording"] = json!({"content_type": "audio/mpeg", "size_bytes": 12});
    }
    json!({"id": event, "type": "call.completed", "call": c})
}

#[tokio::test]
async fn forged_stale_or_unsigned_telephony_deliveries_are_refused_and_store_nothing() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let other = s.tenant().await;
    let secret = &secrets()[0];
    let phone = unique_phone();
    let body = call_event(
        "evt-forged",
        "CA-forged",
        "inbound",
        &phone,
        "+15550000000",
        false,
    )
    .to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let good_path = webhook_path(t.id.as_str(), &tenant_token(secret, &t.id));
    let cases = [
        (good_path.clone(), None),
        (
            good_path.clone(),
            Some(sign_delivery(
                b"not-the-secret-at-all",
                now,
                &t.id,
                body.as_bytes(),
            )),
        ),
        (
            good_path.clone(),
            Some(sign_delivery(secret, now - 600, &t.id, body.as_bytes())),
        ),
        (
            good_path.clone(),
            Some(sign_delivery(secret, now, &t.id, b"{\"another\":\"body\"}")),
        ),
        (good_path.clone(), Some("t=1,v1=zz".into())),
        // The most negative timestamp: stale, not an overflow that drops the connection.
        (
            good_path.clone(),
            Some(format!("t=-9223372036854775808,v1={}", "0".repeat(64))),
        ),
        // Signed over the body alone, or for another tenant: the signature binds the URL's
        // tenant.
        (good_path.clone(), Some(sign(secret, now, body.as_bytes()))),
        (
            good_path.clone(),
            Some(sign_delivery(secret, now, &other.id, body.as_bytes())),
        ),
        // A valid body signature, but the URL's tenant token is missing, forged or another
        // tenant's: the tenant is never taken from an unverified place.
        (
            format!("/webhooks/telephony?tenant={}", t.id),
            Some(sign_delivery(secret, now, &t.id, body.as_bytes())),
        ),
        (
            webhook_path(
                t.id.as_str(),
                &tenant_token(b"attacker-secret-123456", &t.id),
            ),
            Some(sign_delivery(secret, now, &t.id, body.as_bytes())),
        ),
        (
            webhook_path(t.id.as_str(), &tenant_token(secret, &other.id)),
            Some(sign_delivery(secret, now, &t.id, body.as_bytes())),
        ),
        (
            "/webhooks/telephony".into(),
            Some(sign_delivery(secret, now, &t.id, body.as_bytes())),
        ),
    ];
    for (path, sig) in cases {
        let r = deliver(&s, &path, &body, sig).await;
        r.assert_problem(400);
    }
    // Nothing was recorded: the caller is no customer, and no call or lead exists.
    let audit = s.audit(&t).await;
    assert!(!audit.iter().any(|a| a["action"] == "call.receive"));
    let customers = s.get("/customers?limit=100", t.token(Owner)).await;
    assert_eq!(customers.body["items"], json!([]));
}

/// A delivery the provider signed for one tenant, replayed within the tolerance at another
/// tenant's URL (with that tenant's own valid token, which its staff may know): refused, and
/// nothing is recorded there; the delivery still takes effect at its own tenant's URL.
#[tokio::test]
async fn a_telephony_delivery_replayed_at_another_tenants_url_is_refused() {
    let s = Stack::connect().await;
    let victim = s.tenant().await;
    let replayer = s.tenant().await;
    let secret = &secrets()[0];
    let call_id = format!("CA{}", ulid::Ulid::new());
    let body = call_event(
        &format!("evt-{call_id}"),
        &call_id,
        "inbound",
        &unique_phone(),
        "+15550000000",
        false,
    )
    .to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = sign_delivery(secret, now, &victim.id, body.as_bytes());
    let replayed = deliver(
        &s,
        &webhook_path(replayer.id.as_str(), &tenant_token(secret, &replayer.id)),
        &body,
        Some(signature.clone()),
    )
    .await;
    replayed.assert_problem(400);
    let audit = s.audit(&replayer).await;
    assert!(!audit.iter().any(|a| a["action"] == "call.receive"));
    let customers = s.get("/customers?limit=100", replayer.token(Owner)).await;
    assert_eq!(customers.body["items"], json!([]));
    // The same delivery at its own tenant's URL is recorded.
    let delivered = deliver(
        &s,
        &webhook_path(victim.id.as_str(), &tenant_token(secret, &victim.id)),
        &body,
        Some(signature),
    )
    .await;
    assert_eq!(delivered.status, 200, "{}", delivered.body);
    assert_eq!(delivered.body["call"]["id"], json!(call_id));
}

/// A caller name that looks like a card number is refused before the webhook reads the
/// event: no customer is created under that name.
#[tokio::test]
async fn a_telephony_event_holding_a_card_number_is_refused_and_stores_nothing() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let mut event = call_event(
        "evt-card",
        &format!("CA{}", ulid::Ulid::new()),
        "inbound",
        &unique_phone(),
        "+15550000000",
        false,
    );
    event["call"]["caller_name"] = json!("4111 1111 1111 1111");
    let r = signed(&s, &t, &event).await;
    r.assert_problem(400);
    let customers = s.get("/customers?limit=100", t.token(Owner)).await;
    assert_eq!(customers.body["items"], json!([]));
}

#[tokio::test]
async fn calls_link_leads_and_customers_once_with_recording_and_transcript() {
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let owner = t.token(Owner);
    let phone = unique_phone();
    let call_id = format!("CA{}", ulid::Ulid::new());
    let first = call_event(
        &format!("evt-{call_id}-1"),
        &call_id,
        "inbound",
        &phone,
        "+15550000000",
        true,
    );
    let r = signed(&s, &t, &first).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["duplicate"], false);
    let customer = r.body["call"]["customer_id"]
        .as_str()
        .expect("customer")
        .to_owned();
    let lead = r.body["call"]["lead_id"].as_str().expect("lead").to_owned();
    let rec = &r.body["recording_upload"];
    assert!(rec["evidence"]["object_key"]
        .as_str()
        .is_some_and(|k| k.starts_with(&format!("tenants/{}/calls/{call_id}/", t.id))));
    assert!(
        query_value(rec["upload"]["url"].as_str().expect("url"), "X-Amz-Expires")
            .and_then(|e| e.parse::<u64>().ok())
            .is_some_and(|e| e <= 300)
    );
    // The provider uploads the recording to the URL it got.
    assert_eq!(
        upload(&s, &rec["upload"], b"ID3 mp3 data".to_vec()).await,
        200
    );
    let recording_id = rec["evidence"]["id"].as_str().expect("id").to_owned();

    // Redelivery, and the same call under a new event id: duplicates, nothing changes.
    let again = signed(&s, &t, &first).await;
    assert_eq!(again.body["duplicate"], true, "{}", again.body);
    let renamed = call_event(
        "evt-other",
        &call_id,
        "inbound",
        &phone,
        "+15550000000",
        true,
    );
    assert_eq!(signed(&s, &t, &renamed).await.body["duplicate"], true);

    // The lead and customer are the intake's: on the timeline, matched by phone next time.
    let timeline = s
        .get(&format!("/customers/{customer}/timeline"), owner)
        .await;
    assert_eq!(timeline.status, 200, "{}", timeline.body);
    assert!(timeline.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .any(|e| e["kind"] == "lead" && e["id"] == lead.as_str()));
    let second_id = format!("CB{}", ulid::Ulid::new());
    let second = signed(
        &s,
        &t,
        &call_event(
            &format!("evt-{second_id}"),
            &second_id,
            "inbound",
            &phone,
            "+15550000000",
            false,
        ),
    )
    .await;
    assert_eq!(
        second.body["call"]["customer_id"],
        customer.as_str(),
        "{}",
        second.body
    );
    // An outbound call to a known customer links to them without a new lead.
    let out_id = format!("CO{}", ulid::Ulid::new());
    let out = signed(
        &s,
        &t,
        &call_event(
            &format!("evt-{out_id}"),
            &out_id,
            "outbound",
            "+15550000000",
            &phone,
            false,
        ),
    )
    .await;
    assert_eq!(
        out.body["call"]["customer_id"],
        customer.as_str(),
        "{}",
        out.body
    );
    assert!(out.body["call"]["lead_id"].is_null());

    // The transcript arrives later and is attached to its call.
    let transcript = json!({"id": format!("evt-{call_id}-t"), "type": "call.transcribed",
        "transcript": {"call_id": call_id, "text": "Hi, the boiler is making a noise."}});
    let tr = signed(&s, &t, &transcript).await;
    assert_eq!(tr.status, 200, "{}", tr.body);
    let transcript_id = tr.body["call"]["transcript_evidence_id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(signed(&s, &t, &transcript).await.body["duplicate"], true);
    let calls = s.get(&format!("/customers/{customer}/calls"), owner).await;
    assert_eq!(calls.status, 200, "{}", calls.body);
    let items = calls.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "{}", calls.body);
    assert!(items.iter().any(|c| c["id"] == call_id.as_str()
        && c["transcript_evidence_id"] == transcript_id.as_str()
        && c["recording_evidence_id"] == recording_id.as_str()));

    // Recordings and transcripts: owner, admin, dispatcher only; every URL audited.
    for (id, body) in [
        (&recording_id, &b"ID3 mp3 data"[..]),
        (&transcript_id, &b"Hi, the boiler is making a noise."[..]),
    ] {
        for role in Role::ALL {
            let d = s
                .get(&format!("/evidence/{id}/download"), t.token(role))
                .await;
            if matches!(role, Owner | Admin | Dispatcher) {
                assert_eq!(d.status, 200, "{role}: {}", d.body);
                let got = s
                    .http
                    .get(d.body["download"]["url"].as_str().expect("url"))
                    .send()
                    .await
                    .expect("get");
                assert_eq!(got.bytes().await.expect("bytes").as_ref(), body);
            } else {
                d.assert_problem(403);
            }
        }
    }
    for role in [Technician, Accounting] {
        s.get(&format!("/customers/{customer}/calls"), t.token(role))
            .await
            .assert_problem(403);
    }
    let audit = s.audit(&t).await;
    let downloads = audit
        .iter()
        .filter(|a| a["action"] == "evidence.download" && a["outcome"] == "success")
        .count();
    assert_eq!(downloads, 6, "one access record per URL issued");
    assert!(audit.iter().any(|a| a["action"] == "evidence.download"
        && a["outcome"] == "denied"
        && a["actor_role"] == "technician"));
    assert!(audit
        .iter()
        .any(|a| a["action"] == "call.receive" && a["actor_role"] == "telephony_provider"));
}
