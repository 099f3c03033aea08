//! The port between domain logic and storage. Pure: items are JSON objects; the DynamoDB
//! adapter maps them to attribute values. A unit test can implement it in memory.
use std::collections::BTreeMap;
use std::future::Future;

use serde_json::{Map, Value};

use crate::audit::AuditRecord;
use crate::keys::{IndexKey, Key};

pub type Item = Map<String, Value>;

/// A stored item read as a record type, in place (no copy of the item); `None` when the item
/// is not one.
pub fn record_of<T: serde::de::DeserializeOwned>(item: &Item) -> Option<T> {
    T::deserialize(item).ok()
}

/// A condition on a write, checked atomically with it.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    None,
    /// Create only: fails if the item exists.
    NotExists,
    /// Optimistic concurrency: the stored `version` must equal this.
    VersionIs(u64),
    /// The item is a user's access record (or absent) that still admits this token
    /// (`user::UserAccess::admits`): checked inside the transaction, so a write commits only
    /// while its caller is admitted.
    Admits(Admission),
}

/// What a token claims that its user's access record must still agree with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub role: crate::caller::Role,
    /// The token's sign-in, Unix seconds (`Caller::signed_in_at`).
    pub signed_in_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put {
        key: Key,
        index: Option<IndexKey>,
        item: Item,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Change nothing; only `condition` on `key` must hold (in a transaction).
    Check {
        key: Key,
        condition: Condition,
    },
}

/// Where a list continues: the store's last evaluated key (strings only).
pub type PageKey = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// Query the list index (true) or the table (false).
    pub index: bool,
    pub partition: String,
    pub limit: u32,
    pub start: Option<PageKey>,
    pub newest_first: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// The sort key each item is listed under (of the index, for index queries), in the same
    /// order: it says what kind of record an item is without trying to parse it as each.
    pub sort_keys: Vec<String>,
    pub next: Option<PageKey>,
}

/// A page read as records of one type: items that are not that record are left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Records<T> {
    pub items: Vec<T>,
    pub next: Option<PageKey>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// A condition failed; `index` is the write's position (the audit record comes last).
    #[error("condition failed on write {index}")]
    ConditionFailed { index: usize },
    /// The data layer (IAM, or the local policy guard) refused the request.
    #[error("access denied by the data layer: {0}")]
    AccessDenied(String),
    /// Another transaction touched the same items at the same moment; retrying may succeed.
    #[error("contention with a concurrent change")]
    Contention,
    /// Anything else: throttling, network, a missing table. The change did not happen.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Tenant-scoped storage. Every implementation is bound to one tenant session.
pub trait TenantStore: Send + Sync {
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Item>, StoreError>> + Send;
    fn list(&self, query: &ListQuery) -> impl Future<Output = Result<Page, StoreError>> + Send;
    /// `get`, read as a record type: `None` when absent or not that record. A store may read
    /// its items straight into the record (the DynamoDB store does); the answer is the same.
    fn get_record<T: serde::de::DeserializeOwned + Send>(
        &self,
        key: &Key,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send {
        async move { Ok(self.get(key).await?.as_ref().and_then(record_of)) }
    }
    /// `list`, read as records of one type (items that are not are left out), as `get_record`.
    fn list_records<T: serde::de::DeserializeOwned + Send>(
        &self,
        query: &ListQuery,
    ) -> impl Future<Output = Result<Records<T>, StoreError>> + Send {
        async move {
            let page = self.list(query).await?;
            Ok(Records {
                items: page.items.iter().filter_map(record_of).collect(),
                next: page.next,
            })
        }
    }
    /// Apply every write and the audit record in one transaction: all or nothing.
    fn commit(
        &self,
        writes: Vec<Write>,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Write bookkeeping that is not a change to the record (idempotency markers), alone.
    fn put_marker(&self, write: Write) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Append an audit record on its own (denials, reads of protected data, sign-ins).
    fn append_audit(
        &self,
        audit: &AuditRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Read a page of the tenant's audit trail, newest first.
    fn audit_page(
        &self,
        limit: u32,
        start: Option<PageKey>,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;
}
