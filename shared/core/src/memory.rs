//! An in-memory `TenantStore` for unit tests of handler logic (never used by the product).
use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::audit::AuditRecord;
use crate::keys::{self, Key};
use crate::store::{Condition, Item, ListQuery, Page, PageKey, StoreError, TenantStore, Write};

#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<(String, String), Item>>,
    pub audit: Mutex<Vec<AuditRecord>>,
    /// When set, every commit fails as if the audit record could not be written.
    pub fail_audit: std::sync::atomic::AtomicBool,
    /// When set, appending a lone audit record (denials, audited reads) fails.
    pub fail_append: std::sync::atomic::AtomicBool,
    /// Every call, in order (`get`, `append_audit`, `commit`…), for tests of the order.
    pub calls: Mutex<Vec<&'static str>>,
}

impl MemoryStore {
    fn note(&self, call: &'static str) {
        if let Ok(mut c) = self.calls.lock() {
            c.push(call);
        }
    }
}

fn check(items: &BTreeMap<(String, String), Item>, key: &Key, c: &Condition) -> bool {
    let current = items.get(&(key.pk.clone(), key.sk.clone()));
    match c {
        Condition::None => true,
        Condition::NotExists => current.is_none(),
        Condition::VersionIs(v) => {
            current
                .and_then(|i| i.get("version"))
                .and_then(|x| x.as_u64())
                == Some(*v)
        }
        Condition::Admits(token) => match current {
            None => true,
            Some(item) => crate::store::record_of::<crate::user::UserAccess>(item)
                .is_some_and(|record| record.admits(*token).is_ok()),
        },
    }
}

impl TenantStore for MemoryStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.note("get");
        let items = self
            .items
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?;
        Ok(items.get(&(key.pk.clone(), key.sk.clone())).cloned())
    }

    async fn list(&self, q: &ListQuery) -> Result<Page, StoreError> {
        let items = self
            .items
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?;
        let attr = if q.index { keys::GSI1_PK } else { keys::PK };
        let mut page = Page::default();
        for ((_, sk), item) in items.iter() {
            if page.items.len() == q.limit as usize {
                break;
            }
            if item.get(attr).and_then(|v| v.as_str()) != Some(q.partition.as_str()) {
                continue;
            }
            let listed_as = if q.index {
                item.get(keys::GSI1_SK)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
            } else {
                sk.as_str()
            };
            page.sort_keys.push(listed_as.to_owned());
            page.items.push(item.clone());
        }
        Ok(page)
    }

    async fn commit(&self, writes: Vec<Write>, audit: &AuditRecord) -> Result<(), StoreError> {
        self.note("commit");
        if self.fail_audit.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Unavailable("audit write failed".into()));
        }
        let mut items = self
            .items
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?;
        for (index, w) in writes.iter().enumerate() {
            let (key, c) = match w {
                Write::Put { key, condition, .. }
                | Write::Delete { key, condition }
                | Write::Check { key, condition } => (key, condition),
            };
            if !check(&items, key, c) {
                return Err(StoreError::ConditionFailed { index });
            }
        }
        for w in writes {
            match w {
                Write::Put {
                    key,
                    index,
                    mut item,
                    ..
                } => {
                    item.insert(keys::PK.into(), key.pk.clone().into());
                    if let Some(ix) = index {
                        item.insert(keys::GSI1_PK.into(), ix.pk.into());
                        item.insert(keys::GSI1_SK.into(), ix.sk.into());
                    }
                    items.insert((key.pk, key.sk), item);
                }
                Write::Delete { key, .. } => {
                    items.remove(&(key.pk, key.sk));
                }
                Write::Check { .. } => {}
            }
        }
        self.audit
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?
            .push(audit.clone());
        Ok(())
    }

    async fn put_marker(&self, write: Write) -> Result<(), StoreError> {
        let mut items = self
            .items
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?;
        match write {
            Write::Put {
                key,
                item,
                condition,
                ..
            } => {
                if !check(&items, &key, &condition) {
                    return Err(StoreError::ConditionFailed { index: 0 });
                }
                items.insert((key.pk, key.sk), item);
            }
            Write::Delete { key, condition } => {
                if !check(&items, &key, &condition) {
                    return Err(StoreError::ConditionFailed { index: 0 });
                }
                items.remove(&(key.pk, key.sk));
            }
            Write::Check { .. } => {
                return Err(StoreError::Unavailable("a check is not a marker".into()));
            }
        }
        Ok(())
    }

    async fn append_audit(&self, audit: &AuditRecord) -> Result<(), StoreError> {
        self.note("append_audit");
        if self.fail_audit.load(std::sync::atomic::Ordering::SeqCst)
            || self.fail_append.load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(StoreError::Unavailable("audit write failed".into()));
        }
        self.audit
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?
            .push(audit.clone());
        Ok(())
    }

    async fn audit_page(&self, limit: u32, _start: Option<PageKey>) -> Result<Page, StoreError> {
        let audit = self
            .audit
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))?;
        let newest = audit.iter().rev().take(limit as usize);
        Ok(Page {
            items: newest.clone().map(crate::audit::to_object).collect(),
            sort_keys: newest.map(|r| r.id.to_string()).collect(),
            next: None,
        })
    }
}

/// Everything a handler's `Ctx` borrows, for one caller of one tenant.
pub struct TestRig {
    pub store: MemoryStore,
    pub caller: crate::caller::Caller,
    pub meta: crate::request::RequestMeta,
    pub policy: crate::authz::PolicyEngine,
    pub cursors: crate::cursor::CursorKey,
}

impl TestRig {
    /// A rig for `role` in tenant `tenant`; panics only on a broken policy file (tests only).
    pub fn new(tenant: &str, role: crate::caller::Role) -> TestRig {
        let tenant = crate::ids::TenantId::parse(tenant).unwrap_or_else(|e| panic!("{e}"));
        TestRig {
            store: MemoryStore::default(),
            caller: crate::caller::Caller {
                tenant,
                user: crate::ids::UserId::parse(&format!("user-{role}"))
                    .unwrap_or_else(|e| panic!("{e}")),
                role,
                username: format!("{role}@example.com"),
                sign_in_id: None,
                signed_in_at: None,
                auth_time: None,
            },
            meta: crate::request::RequestMeta {
                request_id: "req-1".into(),
                source_ip: "192.0.2.1".into(),
                user_agent: "unit-test".into(),
                received_at: time::OffsetDateTime::now_utc(),
            },
            policy: crate::authz::PolicyEngine::load().unwrap_or_else(|e| panic!("{e}")),
            cursors: crate::cursor::CursorKey::new(&[1; 32]).unwrap_or_else(|| panic!("key")),
        }
    }

    pub fn ctx(&self) -> crate::request::Ctx<'_, MemoryStore> {
        crate::request::Ctx {
            store: &self.store,
            caller: &self.caller,
            meta: &self.meta,
            policy: &self.policy,
            ids: &crate::ids::SystemIds,
            cursors: &self.cursors,
            idempotency: None,
            access: None,
        }
    }

    pub fn audit_actions(&self) -> Vec<(String, crate::audit::Outcome)> {
        self.store
            .audit
            .lock()
            .map(|a| a.iter().map(|r| (r.action.clone(), r.outcome)).collect())
            .unwrap_or_default()
    }
}
