//! Isolation below the application: tenant sessions' clients go through the policy guard,
//! which evaluates template.yaml's tenant policy as IAM would. These tests skip the handlers
//! entirely and use the session's DynamoDB client directly, the way a buggy or compromised
//! handler could.
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use fieldvault_core::caller::Role;
use fieldvault_core::ids::CustomerId;
use fieldvault_core::keys;
use fieldvault_system_tests::{new_customer, Stack};
use std::collections::HashMap;

fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.into())),
        ("sk".to_owned(), AttributeValue::S(sk.into())),
    ])
}

fn code<E: ProvideErrorMetadata>(r: Result<impl std::fmt::Debug, E>) -> Option<String> {
    r.err().and_then(|e| e.code().map(str::to_owned))
}

#[tokio::test]
async fn another_tenants_keys_are_refused_by_the_guard_not_the_handler() {
    let s = Stack::connect().await;
    let a = s.tenant().await;
    let b = s.tenant().await;
    let theirs = s
        .post("/customers", b.token(Role::Owner), &new_customer("Victim"))
        .await;
    let their_id = CustomerId::parse(theirs.body["id"].as_str().expect("id")).expect("ulid");
    let their_key = keys::customer(&b.id, &their_id);
    let settings = s.settings();
    let sessions = s.sessions();
    let session_a = sessions
        .session(&a.id, Role::Owner, &a.user(Role::Owner).id)
        .await
        .expect("session");
    let ddb = session_a.dynamodb();

    // Read: refused, however often asked, between reads of our own (allowed) records: the
    // guard remembers each session's decisions by request, never one for another.
    let created = s
        .post("/customers", a.token(Role::Owner), &new_customer("Ours"))
        .await;
    let our_id = CustomerId::parse(created.body["id"].as_str().expect("id")).expect("ulid");
    let our_key = keys::customer(&a.id, &our_id);
    for _ in 0..3 {
        let mine = ddb
            .get_item()
            .table_name(&settings.data_table)
            .set_key(Some(key(&our_key.pk, &our_key.sk)))
            .consistent_read(true)
            .send()
            .await;
        assert!(mine.expect("our own record").item.is_some());
        let read = ddb
            .get_item()
            .table_name(&settings.data_table)
            .set_key(Some(key(&their_key.pk, &their_key.sk)))
            .send()
            .await;
        assert_eq!(code(read).as_deref(), Some("AccessDeniedException"));
    }
    // Write: refused, and their record is untouched.
    let mut item = key(&their_key.pk, &their_key.sk);
    item.insert("name".into(), AttributeValue::S("Overwritten".into()));
    let write = ddb
        .put_item()
        .table_name(&settings.data_table)
        .set_item(Some(item))
        .send()
        .await;
    assert_eq!(code(write).as_deref(), Some("AccessDeniedException"));
    // Query their list partition through the index: refused.
    let list = ddb
        .query()
        .table_name(&settings.data_table)
        .index_name(keys::GSI1)
        .key_condition_expression("gsi1pk = :p")
        .expression_attribute_values(":p", AttributeValue::S(keys::customers_list(&b.id)))
        .send()
        .await;
    assert_eq!(code(list).as_deref(), Some("AccessDeniedException"));
    // A transaction that mixes our key with theirs: refused whole, nothing written.
    let ours = keys::customer(&a.id, &CustomerId::new(ulid::Ulid::new()));
    let put = |k: &keys::Key| {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&settings.data_table)
                    .set_item(Some(key(&k.pk, &k.sk)))
                    .build()
                    .expect("put"),
            )
            .build()
    };
    let mixed = ddb
        .transact_write_items()
        .transact_items(put(&ours))
        .transact_items(put(&their_key))
        .send()
        .await;
    assert_eq!(code(mixed).as_deref(), Some("AccessDeniedException"));
    let ours_written = ddb
        .get_item()
        .table_name(&settings.data_table)
        .set_key(Some(key(&ours.pk, &ours.sk)))
        .send()
        .await
        .expect("own read");
    assert!(ours_written.item.is_none(), "no partial write");

    // Control: the same calls on our own keys are allowed, so the refusals above are the guard's.
    let own = ddb
        .get_item()
        .table_name(&settings.data_table)
        .set_key(Some(key(&ours.pk, &ours.sk)))
        .send()
        .await;
    assert!(own.is_ok());
    let still = s
        .get(&format!("/customers/{their_id}"), b.token(Role::Owner))
        .await;
    assert_eq!(still.body["name"], "Victim");
}

#[tokio::test]
async fn table_wide_reads_are_refused() {
    let s = Stack::connect().await;
    let a = s.tenant().await;
    let settings = s.settings();
    let session = s
        .sessions()
        .session(&a.id, Role::Owner, &a.user(Role::Owner).id)
        .await
        .expect("session");
    let scan = session
        .dynamodb()
        .scan()
        .table_name(&settings.data_table)
        .send()
        .await;
    assert_eq!(code(scan).as_deref(), Some("AccessDeniedException"));
    let partiql = session
        .dynamodb()
        .execute_statement()
        .statement(format!("SELECT * FROM \"{}\"", settings.data_table))
        .send()
        .await;
    assert_eq!(code(partiql).as_deref(), Some("AccessDeniedException"));
    let streams = session
        .dynamodb()
        .describe_table()
        .table_name(&settings.audit_table)
        .send()
        .await;
    assert_eq!(
        code(streams).as_deref(),
        Some("AccessDeniedException"),
        "no table metadata either"
    );
}

#[tokio::test]
async fn roles_are_enforced_again_at_the_data_layer() {
    let s = Stack::connect().await;
    let a = s.tenant().await;
    let settings = s.settings();
    let sessions = s.sessions();
    let tech = sessions
        .session(&a.id, Role::Technician, &a.user(Role::Technician).id)
        .await
        .expect("session");
    let owner = sessions
        .session(&a.id, Role::Owner, &a.user(Role::Owner).id)
        .await
        .expect("session");
    let priced = [
        (
            format!("T#{}#INV#01J0000000000000000000000", a.id),
            "INVOICE",
        ),
        (
            format!("T#{}#EST#01J0000000000000000000000", a.id),
            "ESTIMATE",
        ),
        (
            format!("T#{}#PAY#01J0000000000000000000000", a.id),
            "PAYMENT",
        ),
    ];
    for (session, expect_denied) in [(&tech, true), (&owner, false)] {
        for (pk, sk) in &priced {
            let billing = session
                .dynamodb()
                .get_item()
                .table_name(&settings.data_table)
                .set_key(Some(key(pk, sk)))
                .send()
                .await;
            assert_eq!(
                code(billing).as_deref() == Some("AccessDeniedException"),
                expect_denied,
                "{pk} read as {}",
                session.role
            );
        }
        let all_jobs = session
            .dynamodb()
            .query()
            .table_name(&settings.data_table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(keys::jobs_list(&a.id)))
            .send()
            .await;
        assert_eq!(
            code(all_jobs).as_deref() == Some("AccessDeniedException"),
            expect_denied,
            "office job list as {}",
            session.role
        );
        let list = session
            .dynamodb()
            .query()
            .table_name(&settings.data_table)
            .index_name(keys::GSI1)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(keys::customers_list(&a.id)))
            .send()
            .await;
        assert_eq!(
            code(list).as_deref() == Some("AccessDeniedException"),
            expect_denied,
            "customer list as {}",
            session.role
        );
    }
    let dispatcher = sessions
        .session(&a.id, Role::Dispatcher, &a.user(Role::Dispatcher).id)
        .await
        .expect("session");
    let audit = dispatcher
        .dynamodb()
        .query()
        .table_name(&settings.audit_table)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", AttributeValue::S(keys::audit_partition(&a.id)))
        .send()
        .await;
    assert_eq!(
        code(audit).as_deref(),
        Some("AccessDeniedException"),
        "only owners and admins read the audit trail"
    );
}

#[tokio::test]
async fn audit_records_are_append_only_for_every_session() {
    let s = Stack::connect().await;
    let a = s.tenant().await;
    // Make at least one audit record exist.
    assert_eq!(
        s.post("/customers", a.token(Role::Owner), &new_customer("Audited"))
            .await
            .status,
        201
    );
    let settings = s.settings();
    let owner = s
        .sessions()
        .session(&a.id, Role::Owner, &a.user(Role::Owner).id)
        .await
        .expect("session");
    let page = owner
        .dynamodb()
        .query()
        .table_name(&settings.audit_table)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", AttributeValue::S(keys::audit_partition(&a.id)))
        .limit(1)
        .send()
        .await
        .expect("owner reads the audit trail");
    let record = page.items().first().expect("a record").clone();
    let sk = record
        .get("sk")
        .and_then(|v| v.as_s().ok())
        .expect("sk")
        .clone();
    let pk = keys::audit_partition(&a.id);

    let update = owner
        .dynamodb()
        .update_item()
        .table_name(&settings.audit_table)
        .set_key(Some(key(&pk, &sk)))
        .update_expression("SET outcome = :o")
        .expression_attribute_values(":o", AttributeValue::S("denied".into()))
        .send()
        .await;
    assert_eq!(code(update).as_deref(), Some("AccessDeniedException"));
    let delete = owner
        .dynamodb()
        .delete_item()
        .table_name(&settings.audit_table)
        .set_key(Some(key(&pk, &sk)))
        .send()
        .await;
    assert_eq!(code(delete).as_deref(), Some("AccessDeniedException"));
    // Our store appends with attribute_not_exists: the same record cannot be written twice.
    // (IAM cannot require that condition on a Put; SECURITY.md says what detects an overwrite.)
    let item = fieldvault_core::audit::AuditRecord {
        id: fieldvault_core::ids::AuditId::parse(&sk).expect("audit ids are ULIDs"),
        tenant_id: a.id.to_string(),
        at: time::OffsetDateTime::now_utc(),
        actor_user: "x".into(),
        actor_role: "owner".into(),
        actor_name: "x".into(),
        action: "forged".into(),
        resource: "x".into(),
        request_id: "x".into(),
        source_ip: "x".into(),
        user_agent: "x".into(),
        outcome: fieldvault_core::audit::Outcome::Success,
        reason: None,
        changes: vec![],
    };
    use fieldvault_core::store::TenantStore;
    let again = owner.store().append_audit(&item).await;
    assert!(
        matches!(
            again,
            Err(fieldvault_core::store::StoreError::ConditionFailed { .. })
        ),
        "{again:?}"
    );
}

/// Which tenant sessions a function may open is decided as STS would from the template: the
/// tenant role's trust policy and the asking function's execution-role policies. A portal
/// function asking for an owner session is refused, a webhook asking for a staff role or the
/// other provider's is refused, staff cannot pose as customers or providers; each class's own
/// sessions open and work.
#[tokio::test]
async fn a_function_asking_for_another_classs_session_role_is_refused_like_sts_would() {
    use fieldvault_aws::session::execution_roles::{
        OPERATOR, PAYMENT_WEBHOOK, PORTAL, STAFF, TELEPHONY_WEBHOOK, USER_ADMIN,
    };
    use fieldvault_core::ids::UserId;
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let settings = s.settings();
    let owner = t.user(Role::Owner).id.clone();
    let someone = |u: &str| UserId::parse(u).expect("user");
    let cases: [(&str, Role, UserId, bool); 16] = [
        (PORTAL, Role::Owner, owner.clone(), false),
        (PORTAL, Role::Admin, owner.clone(), false),
        (
            PORTAL,
            Role::PaymentProvider,
            someone("provider-sandbox"),
            false,
        ),
        (PORTAL, Role::Customer, someone("portal"), true),
        (PAYMENT_WEBHOOK, Role::Owner, owner.clone(), false),
        (PAYMENT_WEBHOOK, Role::Accounting, owner.clone(), false),
        (
            PAYMENT_WEBHOOK,
            Role::TelephonyProvider,
            someone("telephony-provider"),
            false,
        ),
        (
            PAYMENT_WEBHOOK,
            Role::PaymentProvider,
            someone("provider-sandbox"),
            true,
        ),
        (TELEPHONY_WEBHOOK, Role::Dispatcher, owner.clone(), false),
        (
            TELEPHONY_WEBHOOK,
            Role::PaymentProvider,
            someone("provider-sandbox"),
            false,
        ),
        (
            TELEPHONY_WEBHOOK,
            Role::TelephonyProvider,
            someone("telephony-provider"),
            true,
        ),
        (STAFF, Role::Customer, someone("portal"), false),
        (
            STAFF,
            Role::PaymentProvider,
            someone("provider-sandbox"),
            false,
        ),
        (STAFF, Role::Owner, owner.clone(), true),
        (
            USER_ADMIN,
            Role::Admin,
            t.user(Role::Admin).id.clone(),
            true,
        ),
        (OPERATOR, Role::Owner, owner.clone(), false),
    ];
    for (function, role, user, allowed) in cases {
        let sessions = s.sessions_as(function);
        let opened = sessions.session(&t.id, role, &user).await;
        match (&opened, allowed) {
            (Ok(session), true) => {
                // An honest session works: it reads a link record of its tenant (absent: an
                // answer, not a refusal).
                let key = fieldvault_core::keys::link(&t.id, "0".repeat(64).as_str());
                let read = session
                    .dynamodb()
                    .get_item()
                    .table_name(&settings.data_table)
                    .set_key(Some(self::key(&key.pk, &key.sk)))
                    .send()
                    .await;
                assert!(read.is_ok(), "{function} as {role}: {read:?}");
            }
            (Err(e), false) => assert!(
                e.to_string().contains("AccessDenied"),
                "{function} as {role}: {e}"
            ),
            (got, _) => panic!(
                "{function} asking for {role}: expected allowed={allowed}, got {:?}",
                got.as_ref()
                    .map(|_| "a session")
                    .map_err(ToString::to_string)
            ),
        }
        assert_eq!(
            sessions.sts_calls(),
            u64::from(allowed),
            "{function} as {role}: a refused AssumeRole never reaches STS"
        );
    }
}

/// The portal's execution role reads link records with its own credentials (the lookup
/// before any session) and nothing else; other functions' roles hold no data permission.
#[tokio::test]
async fn the_portal_role_reads_link_records_and_nothing_else() {
    use fieldvault_aws::session::execution_roles::{PAYMENT_WEBHOOK, PORTAL, STAFF};
    let s = Stack::connect().await;
    let t = s.tenant().await;
    let settings = s.settings();
    let link = keys::link(&t.id, &"0".repeat(64));
    let customer = keys::customer(&t.id, &CustomerId::new(ulid::Ulid::new()));
    let get = |client: aws_sdk_dynamodb::Client, k: keys::Key| {
        let table = settings.data_table.clone();
        async move {
            client
                .get_item()
                .table_name(table)
                .set_key(Some(key(&k.pk, &k.sk)))
                .send()
                .await
        }
    };
    let portal = s.sessions_as(PORTAL).own_dynamodb().expect("client");
    assert!(
        get(portal.clone(), link.clone()).await.is_ok(),
        "link lookup"
    );
    assert_eq!(
        code(get(portal.clone(), customer.clone()).await).as_deref(),
        Some("AccessDeniedException")
    );
    let query = portal
        .query()
        .table_name(&settings.data_table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(link.pk.clone()))
        .send()
        .await;
    assert_eq!(code(query).as_deref(), Some("AccessDeniedException"));
    for other in [STAFF, PAYMENT_WEBHOOK] {
        let client = s.sessions_as(other).own_dynamodb().expect("client");
        assert_eq!(
            code(get(client, link.clone()).await).as_deref(),
            Some("AccessDeniedException"),
            "{other} reads links"
        );
    }
}
