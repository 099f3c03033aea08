//! The DynamoDB adapter behind `TenantStore`: items are JSON objects in the core, attribute
//! values here. Every write goes out as one TransactWriteItems together with its audit record.
use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem};
use fieldvault_core::audit::{self, AuditRecord};
use fieldvault_core::ids::TenantId;
use fieldvault_core::keys::{self, Key};
use fieldvault_core::store::{
    Condition, Item, ListQuery, Page, PageKey, Records, StoreError, TenantStore, Write,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};
use std::sync::Arc;

use crate::attrs::record_from_attrs;

use crate::metrics::DynamoMetrics;
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};

/// A `Condition` as a DynamoDB condition expression (all `None` for `Condition::None`).
#[derive(Default)]
struct ConditionExpr {
    expression: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}

impl ConditionExpr {
    fn of(condition: &Condition) -> ConditionExpr {
        let names = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(n, a)| ((*n).to_owned(), (*a).to_owned()))
                    .collect(),
            )
        };
        match condition {
            Condition::None => ConditionExpr::default(),
            Condition::NotExists => ConditionExpr {
                expression: Some("attribute_not_exists(pk)".into()),
                ..ConditionExpr::default()
            },
            Condition::VersionIs(v) => ConditionExpr {
                expression: Some("#version = :version".into()),
                names: names(&[("#version", "version")]),
                values: Some(HashMap::from([(
                    ":version".to_owned(),
                    AttributeValue::N(v.to_string()),
                )])),
            },
            // `user::UserAccess::admits` in DynamoDB's terms: no record, or an active one with
            // the token's role whose revocation (absent, null or a Unix second) predates the
            // token's sign-in. A token without a sign-in time passes only where nothing was
            // ever revoked. The memory store evaluates `admits` itself; the system tests hold
            // the two to the same answers.
            Condition::Admits(token) => {
                let revocation = match token.signed_in_at {
                    Some(_) => "attribute_not_exists(#sva) OR attribute_type(#sva, :null) OR #sva < :signed_in",
                    None => "attribute_not_exists(#sva) OR attribute_type(#sva, :null)",
                };
                let mut values = HashMap::from([
                    (":disabled".to_owned(), AttributeValue::S("disabled".into())),
                    (
                        ":role".to_owned(),
                        AttributeValue::S(token.role.as_str().into()),
                    ),
                    (":null".to_owned(), AttributeValue::S("NULL".into())),
                ]);
                if let Some(t) = token.signed_in_at {
                    values.insert(":signed_in".into(), AttributeValue::N(t.to_string()));
                }
                ConditionExpr {
                    expression: Some(format!(
                        "attribute_not_exists(pk) OR (#status <> :disabled AND #role = :role AND ({revocation}))"
                    )),
                    names: names(&[
                        ("#status", "status"),
                        ("#role", "role"),
                        ("#sva", "sessions_valid_after"),
                    ]),
                    values: Some(values),
                }
            }
        }
    }
}

/// A tenant-bound store over one session's DynamoDB client.
#[derive(Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    tenant: TenantId,
    data_table: String,
    audit_table: String,
    metrics: Option<Arc<DynamoMetrics>>,
}

pub fn to_attr(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attr).collect()),
        Value::Object(m) => {
            AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect())
        }
    }
}

/// An attribute value as JSON, taking it apart (strings move, nothing is copied).
pub fn from_attr(a: AttributeValue) -> Value {
    match a {
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| n.parse::<u64>().map(Value::from))
            .ok()
            .or_else(|| {
                n.parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
            })
            .unwrap_or(Value::Null),
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::L(l) => Value::Array(l.into_iter().map(from_attr).collect()),
        AttributeValue::M(m) => {
            Value::Object(m.into_iter().map(|(k, v)| (k, from_attr(v))).collect())
        }
        AttributeValue::Ss(s) => Value::Array(s.into_iter().map(Value::String).collect()),
        _ => Value::Null,
    }
}

pub(crate) const KEY_ATTRS: [&str; 4] = [keys::PK, keys::SK, keys::GSI1_PK, keys::GSI1_SK];

/// A stored item as the core sees it: its attributes but the keys.
pub fn item_from_attrs(attrs: HashMap<String, AttributeValue>) -> Item {
    attrs
        .into_iter()
        .filter(|(k, _)| !KEY_ATTRS.contains(&k.as_str()))
        .map(|(k, v)| (k, from_attr(v)))
        .collect::<Map<String, Value>>()
}

fn page_key(attrs: Option<&HashMap<String, AttributeValue>>) -> Option<PageKey> {
    let attrs = attrs?;
    let out: BTreeMap<String, String> = attrs
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.clone(), s.clone())))
        .collect();
    (!out.is_empty()).then_some(out)
}

/// A Query's answer as a page: each item with the sort key it is listed under.
fn page(
    items: Option<Vec<HashMap<String, AttributeValue>>>,
    last: Option<HashMap<String, AttributeValue>>,
    sort_key: &str,
) -> Page {
    let items = items.unwrap_or_default();
    let mut page = Page {
        items: Vec::with_capacity(items.len()),
        sort_keys: Vec::with_capacity(items.len()),
        next: page_key(last.as_ref()),
    };
    for attrs in items {
        let listed_as = attrs
            .get(sort_key)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        page.sort_keys.push(listed_as);
        page.items.push(item_from_attrs(attrs));
    }
    page
}

fn key_attrs(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (keys::PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (keys::SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// Map an SDK error to what the core understands.
fn store_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: SdkError<E>,
) -> StoreError {
    match e.code() {
        Some("AccessDeniedException") => {
            StoreError::AccessDenied(e.message().unwrap_or_default().to_owned())
        }
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed { index: 0 },
        _ => StoreError::Unavailable(format!("{}", DisplayErrorContext(e))),
    }
}

impl DynamoStore {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        tenant: TenantId,
        data_table: String,
        audit_table: String,
    ) -> Self {
        Self {
            client,
            tenant,
            data_table,
            audit_table,
            metrics: None,
        }
    }

    pub fn with_metrics(mut self, metrics: Option<Arc<DynamoMetrics>>) -> Self {
        self.metrics = metrics;
        self
    }

    fn capacity<'a>(&self, consumed: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        if let Some(m) = &self.metrics {
            m.record_capacity(consumed.into_iter().filter_map(|c| c.capacity_units).sum());
        }
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    fn put_item(
        &self,
        table: &str,
        key: &Key,
        index: Option<&keys::IndexKey>,
        item: &Item,
        condition: &Condition,
    ) -> Result<Put, StoreError> {
        let mut attrs: HashMap<String, AttributeValue> =
            item.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect();
        attrs.extend(key_attrs(key));
        if let Some(ix) = index {
            attrs.insert(keys::GSI1_PK.into(), AttributeValue::S(ix.pk.clone()));
            attrs.insert(keys::GSI1_SK.into(), AttributeValue::S(ix.sk.clone()));
        }
        attrs.insert(
            keys::TENANT_ATTR.into(),
            AttributeValue::S(self.tenant.to_string()),
        );
        let c = ConditionExpr::of(condition);
        Put::builder()
            .table_name(table)
            .set_item(Some(attrs))
            .set_condition_expression(c.expression)
            .set_expression_attribute_names(c.names)
            .set_expression_attribute_values(c.values)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    fn delete_item(&self, key: &Key, condition: &Condition) -> Result<Delete, StoreError> {
        let c = ConditionExpr::of(condition);
        Delete::builder()
            .table_name(&self.data_table)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(c.expression)
            .set_expression_attribute_names(c.names)
            .set_expression_attribute_values(c.values)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    fn condition_check(
        &self,
        key: &Key,
        condition: &Condition,
    ) -> Result<ConditionCheck, StoreError> {
        let c = ConditionExpr::of(condition);
        ConditionCheck::builder()
            .table_name(&self.data_table)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(c.expression)
            .set_expression_attribute_names(c.names)
            .set_expression_attribute_values(c.values)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// One write as it goes into a transaction (public for the benchmark's bare calls).
    pub fn transact_item(&self, w: &Write) -> Result<TransactWriteItem, StoreError> {
        Ok(match w {
            Write::Put {
                key,
                index,
                item,
                condition,
            } => TransactWriteItem::builder()
                .put(self.put_item(&self.data_table, key, index.as_ref(), item, condition)?)
                .build(),
            Write::Delete { key, condition } => TransactWriteItem::builder()
                .delete(self.delete_item(key, condition)?)
                .build(),
            Write::Check { key, condition } => TransactWriteItem::builder()
                .condition_check(self.condition_check(key, condition)?)
                .build(),
        })
    }

    /// The audit record's Put (public for the benchmark's bare calls).
    pub fn audit_put(&self, record: &AuditRecord) -> Result<Put, StoreError> {
        let key = keys::audit(&self.tenant, &record.id);
        self.put_item(
            &self.audit_table,
            &key,
            None,
            &audit::to_object(record),
            &Condition::NotExists,
        )
    }

    /// One consistent GetItem of the data table: the item's attributes, if any.
    async fn get_item(
        &self,
        key: &Key,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.data_table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(store_error)?;
        self.capacity(out.consumed_capacity());
        Ok(out.item)
    }

    /// One Query of a partition (of the list index or the table), a page long.
    async fn query(
        &self,
        q: &ListQuery,
    ) -> Result<aws_sdk_dynamodb::operation::query::QueryOutput, StoreError> {
        let pk_attr = if q.index { keys::GSI1_PK } else { keys::PK };
        let start = q.start.as_ref().map(|k| {
            k.iter()
                .map(|(n, v)| (n.clone(), AttributeValue::S(v.clone())))
                .collect::<HashMap<_, _>>()
        });
        let out = self
            .client
            .query()
            .table_name(&self.data_table)
            .set_index_name(q.index.then(|| keys::GSI1.to_owned()))
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_values(":pk", AttributeValue::S(q.partition.clone()))
            .limit(q.limit as i32)
            .scan_index_forward(!q.newest_first)
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(store_error)?;
        self.capacity(out.consumed_capacity());
        Ok(out)
    }
}

impl TenantStore for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        Ok(self.get_item(key).await?.map(item_from_attrs))
    }

    async fn get_record<T: DeserializeOwned + Send>(
        &self,
        key: &Key,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.get_item(key).await?.and_then(record_from_attrs))
    }
    async fn list_records<T: DeserializeOwned + Send>(
        &self,
        q: &ListQuery,
    ) -> Result<Records<T>, StoreError> {
        let out = self.query(q).await?;
        Ok(Records {
            items: out
                .items
                .unwrap_or_default()
                .into_iter()
                .filter_map(record_from_attrs)
                .collect(),
            next: page_key(out.last_evaluated_key.as_ref()),
        })
    }
    async fn list(&self, q: &ListQuery) -> Result<Page, StoreError> {
        let out = self.query(q).await?;
        let sort_key = if q.index { keys::GSI1_SK } else { keys::SK };
        Ok(page(out.items, out.last_evaluated_key, sort_key))
    }

    async fn commit(&self, writes: Vec<Write>, record: &AuditRecord) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(writes.len() + 1);
        for w in &writes {
            items.push(self.transact_item(w)?);
        }
        // The audit record rides last in the same transaction: no change without its record.
        items.push(
            TransactWriteItem::builder()
                .put(self.audit_put(record)?)
                .build(),
        );
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t)) = e.as_service_error() {
                    let failed = t
                        .cancellation_reasons()
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed"));
                    if let Some(index) = failed {
                        return Err(StoreError::ConditionFailed { index });
                    }
                    if t
                        .cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"))
                    {
                        return Err(StoreError::Contention);
                    }
                }
                Err(store_error(e))
            }
        }
    }

    async fn put_marker(&self, write: Write) -> Result<(), StoreError> {
        match &write {
            Write::Put {
                key,
                index,
                item,
                condition,
            } => {
                let put = self.put_item(&self.data_table, key, index.as_ref(), item, condition)?;
                self.client
                    .put_item()
                    .table_name(put.table_name())
                    .set_item(Some(put.item().clone()))
                    .set_condition_expression(put.condition_expression().map(str::to_owned))
                    .set_expression_attribute_names(put.expression_attribute_names().cloned())
                    .set_expression_attribute_values(put.expression_attribute_values().cloned())
                    .send()
                    .await
                    .map_err(store_error)?;
            }
            Write::Delete { key, condition } => {
                let d = self.delete_item(key, condition)?;
                self.client
                    .delete_item()
                    .table_name(d.table_name())
                    .set_key(Some(d.key().clone()))
                    .set_condition_expression(d.condition_expression().map(str::to_owned))
                    .set_expression_attribute_names(d.expression_attribute_names().cloned())
                    .set_expression_attribute_values(d.expression_attribute_values().cloned())
                    .send()
                    .await
                    .map_err(store_error)?;
            }
            Write::Check { .. } => {
                return Err(StoreError::Unavailable("a check is not a marker".into()));
            }
        }
        Ok(())
    }

    async fn append_audit(&self, record: &AuditRecord) -> Result<(), StoreError> {
        let put = self.audit_put(record)?;
        let out = self
            .client
            .put_item()
            .table_name(put.table_name())
            .set_item(Some(put.item().clone()))
            .condition_expression("attribute_not_exists(pk)")
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(store_error)?;
        self.capacity(out.consumed_capacity());
        Ok(())
    }

    async fn audit_page(&self, limit: u32, start: Option<PageKey>) -> Result<Page, StoreError> {
        let start = start.map(|k| {
            k.into_iter()
                .map(|(n, v)| (n, AttributeValue::S(v)))
                .collect::<HashMap<_, _>>()
        });
        let out = self
            .client
            .query()
            .table_name(&self.audit_table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(keys::audit_partition(&self.tenant)),
            )
            .limit(limit as i32)
            .scan_index_forward(false)
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(store_error)?;
        self.capacity(out.consumed_capacity());
        Ok(page(out.items, out.last_evaluated_key, keys::SK))
    }
}
