//! Audit records: who did what, to what, when, from where, with what outcome, and what changed.
//! Built here, written by the store in the same transaction as the change they describe.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::ids::AuditId;

/// Fields whose values never reach an audit record in the clear.
const SENSITIVE_FIELDS: &[&str] = &["password", "secret", "token", "tax_id", "account_number"];
const REDACTED: &str = "[redacted]";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Denied,
}

/// One changed field: JSON-pointer path, value before, value after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldChange {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditRecord {
    pub id: AuditId,
    pub tenant_id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "crate::schema::DateTime")]
    pub at: OffsetDateTime,
    pub actor_user: String,
    pub actor_role: String,
    pub actor_name: String,
    pub action: String,
    pub resource: String,
    pub request_id: String,
    pub source_ip: String,
    pub user_agent: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Field-level diff between the states before and after, sensitive values redacted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
}

/// The before/after diff of two JSON documents, as a list of leaf changes.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    out
}

fn walk(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(&format!("{path}/{k}"), b.get(k), a.get(k), out);
            }
        }
        (Some(Value::Object(b)), None) => {
            for (k, v) in b {
                walk(&format!("{path}/{k}"), Some(v), None, out);
            }
        }
        (None, Some(Value::Object(a))) => {
            for (k, v) in a {
                walk(&format!("{path}/{k}"), None, Some(v), out);
            }
        }
        (b, a) if b != a => {
            let redact = path
                .rsplit('/')
                .next()
                .map(|leaf| SENSITIVE_FIELDS.iter().any(|s| leaf.contains(s)))
                .unwrap_or(false);
            let shown = |v: Option<&Value>| {
                v.map(|v| {
                    if redact {
                        Value::String(REDACTED.into())
                    } else {
                        v.clone()
                    }
                })
            };
            out.push(FieldChange {
                path: path.to_owned(),
                before: shown(b),
                after: shown(a),
            });
        }
        _ => {}
    }
}

/// Turn the record into a plain JSON object for storage.
pub fn to_object(record: &AuditRecord) -> Map<String, Value> {
    match serde_json::to_value(record) {
        Ok(Value::Object(m)) => m,
        // A struct always serializes to an object; keep a total function anyway.
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_lists_leaf_changes_and_redacts_secrets() {
        let before = json!({"name": "A", "contact": {"phone": "1"}, "api_token": "old"});
        let after =
            json!({"name": "B", "contact": {"phone": "1", "email": "e"}, "api_token": "new"});
        let d = diff(Some(&before), Some(&after));
        let paths: Vec<&str> = d.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["/api_token", "/contact/email", "/name"]);
        assert_eq!(d[0].after, Some(json!("[redacted]")));
        assert_eq!(d[2].before, Some(json!("A")));
    }

    #[test]
    fn creation_diff_lists_every_field() {
        let d = diff(None, Some(&json!({"a": 1, "b": {"c": 2}})));
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|c| c.before.is_none()));
    }
}
