//! The same DynamoDB calls a handler makes, issued bare: prebuilt inputs with the same item
//! shapes (built by the same core code), sent with a plain SDK client. Timing covers only the
//! SDK calls. Every call asks for ReturnConsumedCapacity=INDEXES, which gives the read/write
//! unit split (the product path does not ask for it on TransactWriteItems).
use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity, TransactWriteItem};
use fieldvault_aws::dynamo::{item_from_attrs, DynamoStore};
use fieldvault_core::actions::Action;
use fieldvault_core::audit::{diff, AuditRecord, Outcome};
use fieldvault_core::caller::Caller;
use fieldvault_core::caller::Role;
use fieldvault_core::customer::{Customer, CustomerKind, NewCustomer, ServiceLocationInput};
use fieldvault_core::ids::{AuditId, CustomerId, InvoiceId, LeadId, SystemIds, TenantId};
use fieldvault_core::intake::{Intake, IntakeInput, Lead, LeadStatus};
use fieldvault_core::invoice::{counter_write, Invoice};
use fieldvault_core::keys::{self, Key};
use fieldvault_core::payment::store::{Delivery, Receipt};
use fieldvault_core::payment::{ProviderAccount, ProviderEvent, ProviderPayment, META_INVOICE};
use fieldvault_core::request::AccessGate;
use fieldvault_core::store::{Condition, Item, Write};
use fieldvault_core::user::Tenant;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::fixture::{Case, Fixture, Spec, PROVIDER, USER_AGENT};
use crate::Res;

pub enum BareOp {
    Get {
        table: String,
        key: HashMap<String, AttributeValue>,
    },
    Query {
        table: String,
        index: String,
        pk_attr: &'static str,
        pk: String,
        limit: i32,
        /// The seeded data guarantees items (a check that the bench reads what it means to).
        nonempty: bool,
    },
    Transact(Vec<TransactWriteItem>),
    /// Calls the handler issues at the same time (a read and the caller's access record).
    Together(Vec<BareOp>),
    /// Two reads at once, then the transaction they decide (issuing an invoice).
    Issue(Box<IssueOp>),
    /// Three reads at once, then the transaction they decide (a provider's payment event).
    Receive(Box<ReceiveOp>),
}

/// Calls by operation and consumed capacity, split by side.
#[derive(Debug, Default, Clone)]
pub struct Units {
    pub calls: BTreeMap<String, u64>,
    pub read: f64,
    pub write: f64,
    /// Capacity by table and index, as DynamoDB Local reports it (INDEXES).
    pub targets: BTreeMap<String, f64>,
}

impl Units {
    fn merge(&mut self, other: Units) {
        for (op, n) in other.calls {
            *self.calls.entry(op).or_default() += n;
        }
        self.read += other.read;
        self.write += other.write;
        for (target, u) in other.targets {
            *self.targets.entry(target).or_default() += u;
        }
    }

    fn add_targets<'a>(
        &mut self,
        consumed: impl IntoIterator<Item = &'a aws_sdk_dynamodb::types::ConsumedCapacity>,
    ) {
        for c in consumed {
            let table = c.table_name().unwrap_or("?").to_owned();
            if let Some(u) = c.table().and_then(|t| t.capacity_units) {
                *self.targets.entry(table.clone()).or_default() += u;
            }
            for (index, cap) in c.global_secondary_indexes().into_iter().flatten() {
                *self.targets.entry(format!("{table}/{index}")).or_default() +=
                    cap.capacity_units.unwrap_or(0.0);
            }
        }
    }
}

fn key_attrs(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (keys::PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (keys::SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// Builds items exactly as the product's DynamoDB store does (its own code, no client call).
fn store(fx: &Fixture) -> DynamoStore {
    DynamoStore::new(
        fx.bare.clone(),
        fx.tenant.clone(),
        fx.stack.data_table.clone(),
        fx.stack.audit_table.clone(),
    )
}

fn write_item(fx: &Fixture, w: &Write) -> Res<TransactWriteItem> {
    store(fx)
        .transact_item(w)
        .map_err(|e| format!("transact item: {e}").into())
}

/// The owner's access gate, as `App::begin` builds it from the token.
fn owner_gate(fx: &Fixture) -> Res<AccessGate> {
    let claims: HashMap<String, String> = fx
        .owner()
        .claims
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
        .collect();
    let caller = Caller::from_claims(&claims).map_err(|e| format!("owner claims: {e}"))?;
    Ok(AccessGate::for_caller(&caller))
}

/// The access check every transaction of a signed-in user carries.
fn access_check(fx: &Fixture) -> Res<TransactWriteItem> {
    write_item(fx, &owner_gate(fx)?.check())
}

/// The audit record `Ctx::record` builds for a successful action by the owner.
fn audit_record(
    fx: &Fixture,
    action: Action,
    resource: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    now: OffsetDateTime,
) -> AuditRecord {
    let owner = fx.owner();
    let name = owner
        .claims
        .get("username")
        .and_then(Value::as_str)
        .unwrap_or(owner.id.as_str());
    let mut record = provider_audit_record(fx, action, resource, now);
    record.actor_user = owner.id.to_string();
    record.actor_role = owner.role.to_string();
    record.actor_name = name.to_owned();
    record.changes = diff(before, after);
    record
}

/// The audit record of an action by the payment provider's principal (`App::begin_as_provider`).
fn provider_audit_record(
    fx: &Fixture,
    action: Action,
    resource: &str,
    now: OffsetDateTime,
) -> AuditRecord {
    AuditRecord {
        id: AuditId::new(ulid::Ulid::new()),
        tenant_id: fx.tenant.to_string(),
        at: now,
        actor_user: format!("provider-{PROVIDER}"),
        actor_role: Role::PaymentProvider.to_string(),
        actor_name: format!("payment provider ({PROVIDER})"),
        action: action.audit_name().into(),
        resource: resource.into(),
        request_id: ulid::Ulid::new().to_string(),
        source_ip: "127.0.0.1".into(),
        user_agent: USER_AGENT.into(),
        outcome: Outcome::Success,
        reason: None,
        changes: diff(None, None),
    }
}

/// The items of one transaction as `DynamoStore::commit` sends it: the writes, then the audit
/// record.
fn transaction(
    store: &DynamoStore,
    writes: &[Write],
    record: &AuditRecord,
) -> Res<Vec<TransactWriteItem>> {
    let mut items = writes
        .iter()
        .map(|w| {
            store
                .transact_item(w)
                .map_err(|e| format!("transact item: {e}").into())
        })
        .collect::<Res<Vec<_>>>()?;
    items.push(audit_put(store, record)?);
    Ok(items)
}

fn audit_put(store: &DynamoStore, record: &AuditRecord) -> Res<TransactWriteItem> {
    let put = store
        .audit_put(record)
        .map_err(|e| format!("audit item: {e}"))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn audit_item(
    fx: &Fixture,
    action: Action,
    resource: &str,
    after: Option<&Value>,
    now: OffsetDateTime,
) -> Res<TransactWriteItem> {
    audit_put(
        &store(fx),
        &audit_record(fx, action, resource, None, after, now),
    )
}

/// Issuing an invoice, as `fv_issue_invoice` does it: read the draft and the tenant's invoice
/// counter at once, then one transaction (counter, invoice, ledger entry, tasks,
/// access check, audit). The transaction depends on what the reads return, so it is built
/// between them and the write (about as much work as the handler does there).
pub struct IssueOp {
    table: String,
    invoice: Key,
    counter: Key,
    store: DynamoStore,
    check: Write,
    /// Everything but the resource and the changes, which the draft decides.
    audit: AuditRecord,
    now: OffsetDateTime,
}

impl IssueOp {
    fn transaction(
        self,
        draft: Option<HashMap<String, AttributeValue>>,
        counter: Option<HashMap<String, AttributeValue>>,
    ) -> Res<Vec<TransactWriteItem>> {
        let draft = draft
            .map(item_from_attrs)
            .and_then(|i| Invoice::from_item(&i))
            .ok_or("issue: the draft is not there")?;
        let stored_next = counter
            .map(item_from_attrs)
            .and_then(|c| c.get("version").and_then(Value::as_u64));
        let (number, counter) = counter_write(&draft.tenant_id, stored_next);
        let issued = draft
            .issue(number, self.now)
            .map_err(|e| format!("issue: {e}"))?;
        let b = serde_json::to_value(&draft)?;
        let a = serde_json::to_value(&issued)?;
        let mut writes = vec![
            counter,
            issued.write(Some(draft.version)),
            fieldvault_core::ledger::entries::invoice_issued(&issued).write(&issued.tenant_id),
        ];
        writes.extend(fieldvault_core::task::for_invoice(Some(&draft), &issued));
        writes.push(self.check);
        let mut record = self.audit;
        record.resource = format!("invoice/{}", issued.id);
        record.changes = diff(Some(&b), Some(&a));
        transaction(&self.store, &writes, &record)
    }
}

/// A provider's payment event, as `payment::store::receive` records it: read the event's
/// marker, the invoice and the tenant (its provider account) at once, then one transaction (event marker, invoice allocation and
/// tasks, payment, reference marker, ledger entry, audit), built between them by the same
/// core code (`Receipt::of`).
pub struct ReceiveOp {
    table: String,
    marker: Key,
    invoice: Key,
    profile: Key,
    store: DynamoStore,
    event_id: String,
    account: ProviderAccount,
    payment: ProviderPayment,
    metadata: BTreeMap<String, String>,
    audit: AuditRecord,
    now: OffsetDateTime,
}

impl ReceiveOp {
    fn transaction(
        self,
        invoice: Option<HashMap<String, AttributeValue>>,
        profile: Option<HashMap<String, AttributeValue>>,
    ) -> Res<Vec<TransactWriteItem>> {
        let invoice = invoice
            .map(item_from_attrs)
            .and_then(|i| Invoice::from_item(&i));
        let shop = profile
            .map(item_from_attrs)
            .and_then(|i| serde_json::from_value::<Tenant>(serde_json::Value::Object(i)).ok());
        let tenant = TenantId::parse(&self.audit.tenant_id).map_err(|e| format!("{e}"))?;
        let delivery = Delivery {
            provider: PROVIDER,
            event_id: &self.event_id,
            account: &self.account,
            payment: &self.payment,
            metadata: &self.metadata,
        };
        let receipt = Receipt::of(
            &delivery,
            shop.as_ref().and_then(|s| s.payment_account.as_ref()),
            invoice.as_ref(),
            &tenant,
            &self.audit.actor_user,
            self.now,
            &SystemIds,
        )
        .map_err(|e| format!("receive: {e}"))?;
        let after = serde_json::to_value(&receipt.payment)?;
        let mut record = self.audit;
        record.resource = format!("payment/{}", receipt.payment.id);
        record.changes = diff(None, Some(&after));
        transaction(&self.store, &receipt.writes, &record)
    }
}

fn get(fx: &Fixture, key: &Key) -> BareOp {
    BareOp::Get {
        table: fx.stack.data_table.clone(),
        key: key_attrs(key),
    }
}

/// The calls one request of `case` makes, for the request `spec` describes.
pub fn plan(fx: &Fixture, case: Case, spec: &Spec) -> Res<Vec<BareOp>> {
    let t = &fx.tenant;
    let owner = fx.owner();
    let now = OffsetDateTime::now_utc();
    match case {
        Case::Get => {
            let (_, id) = spec.param.as_ref().ok_or("get: no id")?;
            let id = CustomerId::parse(id).map_err(|e| format!("get: {e}"))?;
            Ok(vec![BareOp::Together(vec![
                get(fx, &keys::customer(t, &id)),
                get(fx, owner_gate(fx)?.key()),
            ])])
        }
        Case::IssueInvoice => {
            let (_, id) = spec.param.as_ref().ok_or("issue: no id")?;
            let id = InvoiceId::parse(id).map_err(|e| format!("issue: {e}"))?;
            Ok(vec![BareOp::Issue(Box::new(IssueOp {
                table: fx.stack.data_table.clone(),
                invoice: keys::invoice(t, &id),
                counter: keys::invoice_counter(t),
                store: store(fx),
                check: owner_gate(fx)?.check(),
                audit: audit_record(fx, Action::IssueInvoice, "", None, None, now),
                now,
            }))])
        }
        Case::PaymentWebhook => {
            let body = spec.body.clone().ok_or("webhook: no body")?;
            let event: ProviderEvent = serde_json::from_value(body)?;
            let payment = event.data.payment.ok_or("webhook: no payment")?;
            let invoice = event
                .data
                .metadata
                .get(META_INVOICE)
                .map(|raw| InvoiceId::parse(raw))
                .ok_or("webhook: no invoice")?
                .map_err(|e| format!("webhook: {e}"))?;
            let account = event.account.ok_or("webhook: no account")?;
            Ok(vec![BareOp::Receive(Box::new(ReceiveOp {
                table: fx.stack.data_table.clone(),
                marker: keys::provider_event(t, PROVIDER, &event.id),
                invoice: keys::invoice(t, &invoice),
                profile: keys::tenant_profile(t),
                store: store(fx),
                event_id: event.id,
                account,
                payment,
                metadata: event.data.metadata,
                audit: provider_audit_record(fx, Action::ReceivePayment, "", now),
                now,
            }))])
        }
        Case::Timeline => {
            // As `fv_get_timeline::timeline` reads, for an office role: the customer (with
            // the access record), then its operations and billing index partitions at once.
            let (_, id) = spec.param.as_ref().ok_or("timeline: no id")?;
            let id = CustomerId::parse(id).map_err(|e| format!("timeline: {e}"))?;
            let partition = |pk: String| BareOp::Query {
                table: fx.stack.data_table.clone(),
                index: keys::GSI1.into(),
                pk_attr: keys::GSI1_PK,
                pk,
                limit: 200,
                nonempty: false,
            };
            Ok(vec![
                BareOp::Together(vec![
                    get(fx, &keys::customer(t, &id)),
                    get(fx, owner_gate(fx)?.key()),
                ]),
                BareOp::Together(vec![
                    partition(keys::customer_ops_partition(t, &id)),
                    partition(keys::customer_billing_partition(t, &id)),
                ]),
            ])
        }
        Case::List => Ok(vec![BareOp::Together(vec![
            BareOp::Query {
                table: fx.stack.data_table.clone(),
                index: keys::GSI1.into(),
                pk_attr: keys::GSI1_PK,
                pk: keys::customers_list(t),
                limit: 25,
                nonempty: true,
            },
            get(fx, owner_gate(fx)?.key()),
        ])]),
        Case::Create => {
            let input: NewCustomer =
                serde_json::from_value(spec.body.clone().ok_or("create: no body")?)?;
            let c = Customer::create(&input, t, &owner.id, now, &SystemIds)
                .map_err(|e| format!("create: {e}"))?;
            let after = serde_json::to_value(&c)?;
            let mut items = c
                .creation_writes()
                .iter()
                .map(|w| write_item(fx, w))
                .collect::<Res<Vec<_>>>()?;
            items.push(access_check(fx)?);
            items.push(audit_item(
                fx,
                Action::CreateCustomer,
                &format!("customer/{}", c.id),
                Some(&after),
                now,
            )?);
            Ok(vec![BareOp::Transact(items)])
        }
        Case::Intake | Case::IntakeKnown => {
            let input: IntakeInput =
                serde_json::from_value(spec.body.clone().ok_or("intake: no body")?)?;
            let parsed = Intake::parse(&input).map_err(|e| format!("intake: {e}"))?;
            let point = parsed
                .contact_points
                .first()
                .ok_or("intake: no contact point")?;
            let mut ops = vec![get(
                fx,
                &keys::contact_lookup(t, point.kind.as_str(), &point.value),
            )];
            let known = fx.customers.iter().find(|c| c.phone == point.value);
            let (customer_id, customer_json, mut writes) = match (case, known) {
                (Case::IntakeKnown, Some(seeded)) => {
                    let id = CustomerId::parse(&seeded.id).map_err(|e| format!("intake: {e}"))?;
                    ops.push(get(fx, &keys::customer(t, &id)));
                    (id, json!({ "id": id, "matched": true }), Vec::new())
                }
                (Case::IntakeKnown, None) => {
                    return Err("intake of a known caller: phone not seeded".into())
                }
                _ => {
                    let new = NewCustomer {
                        name: parsed.name.clone(),
                        kind: CustomerKind::Residential,
                        company: None,
                        contact_points: parsed.contact_points.clone(),
                        service_locations: parsed
                            .service_address
                            .iter()
                            .map(|a| ServiceLocationInput {
                                id: None,
                                label: None,
                                address: a.clone(),
                                access_notes: None,
                            })
                            .collect(),
                        notes: None,
                    };
                    let c = Customer::create(&new, t, &owner.id, now, &SystemIds)
                        .map_err(|e| format!("intake: {e}"))?;
                    (c.id, serde_json::to_value(&c)?, c.creation_writes())
                }
            };
            let lead = Lead {
                id: LeadId::new(ulid::Ulid::new()),
                tenant_id: t.clone(),
                customer_id,
                source: parsed.source,
                campaign: parsed.campaign.clone(),
                notes: parsed.notes.clone(),
                status: LeadStatus::New,
                created_at: now,
                created_by: owner.id.clone(),
            };
            let follow_up = fieldvault_core::task::Task::open(
                fieldvault_core::task::TaskKind::FollowUpLead,
                &lead.id.to_string(),
                t,
                customer_id,
                now + fieldvault_core::task::LEAD_FOLLOW_UP_WITHIN,
            );
            writes.push(lead.write());
            writes.push(follow_up.put());
            let after = json!({ "lead": lead, "customer": customer_json, "follow_up": follow_up });
            let mut items = writes
                .iter()
                .map(|w| write_item(fx, w))
                .collect::<Res<Vec<_>>>()?;
            items.push(access_check(fx)?);
            items.push(audit_item(
                fx,
                Action::Intake,
                &format!("lead/{}", lead.id),
                Some(&after),
                now,
            )?);
            ops.push(BareOp::Transact(items));
            Ok(ops)
        }
    }
}

/// The sign-in record a user's first request writes: marker item + audit record.
pub fn sign_in_plan(fx: &Fixture) -> Res<Vec<BareOp>> {
    let owner = fx.owner();
    let marker = Write::Put {
        key: keys::sign_in(&fx.tenant, &ulid::Ulid::new().to_string()),
        index: None,
        item: Item::new(),
        condition: Condition::NotExists,
    };
    Ok(vec![BareOp::Transact(vec![
        write_item(fx, &marker)?,
        access_check(fx)?,
        audit_item(
            fx,
            Action::SignIn,
            &format!("user/{}", owner.id),
            None,
            OffsetDateTime::now_utc(),
        )?,
    ])])
}

/// One item a request writes: its kind (from the partition key), DynamoDB size, and whether it
/// also lands in the gsi1 index.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ItemSize {
    pub kind: String,
    pub bytes: usize,
    pub gsi: bool,
}

/// Attribute value size by DynamoDB's rules (strings: UTF-8 bytes; numbers: about one byte
/// per two significant digits plus one; lists and maps: 3 bytes plus one per element).
fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.chars().filter(char::is_ascii_digit).count().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|e| value_size(e) + 1).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| k.len() + value_size(e) + 1)
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// The items a request's transaction writes, with their sizes.
pub fn write_sizes(ops: &[BareOp]) -> Vec<ItemSize> {
    let mut out = Vec::new();
    for op in ops {
        let BareOp::Transact(items) = op else {
            continue;
        };
        // A ConditionCheck is billed like a transactional write of the item it reads (the
        // access record, well under 1 KB).
        for _ in items.iter().filter(|i| i.condition_check().is_some()) {
            out.push(ItemSize {
                kind: "ACCESS (check)".into(),
                bytes: 0,
                gsi: false,
            });
        }
        for put in items.iter().filter_map(|i| i.put()) {
            let item = put.item();
            let kind = item
                .get(keys::PK)
                .and_then(|v| v.as_s().ok())
                .and_then(|pk| pk.split('#').nth(2))
                .unwrap_or("?")
                .to_owned();
            out.push(ItemSize {
                kind,
                bytes: item.iter().map(|(k, v)| k.len() + value_size(v)).sum(),
                gsi: item.contains_key(keys::GSI1_PK),
            });
        }
    }
    out
}

/// Write units by AWS's published rules: a transactional write costs 2 WRU per started KB of
/// each item; each index entry it writes costs 1 WRU per started KB (standard write).
pub fn aws_rule_wru(items: &[ItemSize]) -> f64 {
    items
        .iter()
        .map(|i| {
            let kb = i.bytes.div_ceil(1024).max(1) as f64;
            2.0 * kb + if i.gsi { kb } else { 0.0 }
        })
        .sum()
}

fn units_of<'a>(
    consumed: impl IntoIterator<Item = &'a aws_sdk_dynamodb::types::ConsumedCapacity>,
) -> f64 {
    consumed.into_iter().filter_map(|c| c.capacity_units).sum()
}

/// Send the calls in order (those `Together` at once); add what they consumed to `units`.
pub async fn exec(
    client: &aws_sdk_dynamodb::Client,
    ops: Vec<BareOp>,
    units: &mut Units,
) -> Res<()> {
    for op in ops {
        if let BareOp::Together(group) = op {
            let results =
                futures::future::join_all(group.into_iter().map(|op| exec_one(client, op))).await;
            for r in results {
                units.merge(r?);
            }
        } else {
            units.merge(exec_one(client, op).await?);
        }
    }
    Ok(())
}

async fn exec_one(client: &aws_sdk_dynamodb::Client, op: BareOp) -> Res<Units> {
    let mut units = Units::default();
    match op {
        BareOp::Get { table, key } => {
            get_item(client, table, key, &mut units).await?;
        }
        BareOp::Query {
            table,
            index,
            pk_attr,
            pk,
            limit,
            nonempty,
        } => {
            let out = client
                .query()
                .table_name(table)
                .index_name(index)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", pk_attr)
                .expression_attribute_values(":pk", AttributeValue::S(pk))
                .limit(limit)
                .scan_index_forward(true)
                .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
                .send()
                .await
                .map_err(|e| format!("Query: {}", DisplayErrorContext(e)))?;
            if nonempty && out.items().is_empty() {
                return Err("Query: the customer list is empty".into());
            }
            *units.calls.entry("Query".into()).or_default() += 1;
            units.read += units_of(out.consumed_capacity());
            units.add_targets(out.consumed_capacity());
        }
        BareOp::Transact(items) => transact(client, items, &mut units).await?,
        BareOp::Issue(op) => {
            let (draft, counter) =
                get_two(client, &op.table, &op.invoice, &op.counter, &mut units).await?;
            let items = op.transaction(draft, counter)?;
            transact(client, items, &mut units).await?;
        }
        BareOp::Receive(op) => {
            let (mut u, mut side) = (Units::default(), Units::default());
            let (two, profile) = futures::future::join(
                get_two(client, &op.table, &op.marker, &op.invoice, &mut u),
                get_item(client, op.table.clone(), key_attrs(&op.profile), &mut side),
            )
            .await;
            units.merge(u);
            units.merge(side);
            let ((marker, invoice), profile) = (two?, profile?);
            if marker.is_some() {
                return Err("webhook: the event was already recorded".into());
            }
            let items = op.transaction(invoice, profile)?;
            transact(client, items, &mut units).await?;
        }
        BareOp::Together(_) => return Err("calls together do not nest".into()),
    }
    Ok(units)
}

type Attrs = HashMap<String, AttributeValue>;

/// Two consistent GetItems at once (as the handlers issue independent reads), counted.
async fn get_two(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    first: &Key,
    second: &Key,
    units: &mut Units,
) -> Res<(Option<Attrs>, Option<Attrs>)> {
    let (mut u1, mut u2) = (Units::default(), Units::default());
    let (a, b) = futures::future::join(
        get_item(client, table.to_owned(), key_attrs(first), &mut u1),
        get_item(client, table.to_owned(), key_attrs(second), &mut u2),
    )
    .await;
    units.merge(u1);
    units.merge(u2);
    Ok((a?, b?))
}

/// A consistent GetItem, counted into `units`; the item, if any.
async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    table: String,
    key: HashMap<String, AttributeValue>,
    units: &mut Units,
) -> Res<Option<HashMap<String, AttributeValue>>> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .map_err(|e| format!("GetItem: {}", DisplayErrorContext(e)))?;
    *units.calls.entry("GetItem".into()).or_default() += 1;
    units.read += units_of(out.consumed_capacity());
    units.add_targets(out.consumed_capacity());
    Ok(out.item)
}

/// One TransactWriteItems, counted into `units`.
async fn transact(
    client: &aws_sdk_dynamodb::Client,
    items: Vec<TransactWriteItem>,
    units: &mut Units,
) -> Res<()> {
    let out = client
        .transact_write_items()
        .set_transact_items(Some(items))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .map_err(|e| format!("TransactWriteItems: {}", DisplayErrorContext(e)))?;
    *units.calls.entry("TransactWriteItems".into()).or_default() += 1;
    units.write += units_of(out.consumed_capacity());
    units.add_targets(out.consumed_capacity());
    Ok(())
}
