//! Turn raw serialized AWS requests into the authorization requests IAM evaluates.
//!
//! The local guard sees requests at the HTTP layer (after the SDK serialized them), which
//! is exactly what IAM sees, so the extraction below mirrors the service's authorization:
//! which action, which resource ARN and which condition keys. Anything we cannot
//! interpret is an [`ExtractError`] (the guard denies), and a value we cannot determine is
//! *omitted* from the context, which makes `Null`-guarded policies deny: both fail closed.
//!
//! ARNs use the `aws` partition.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::policy::AuthzRequest;

/// Where ARNs point: the region and account the local stack pretends to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceNames {
    /// e.g. `us-east-1`.
    pub region: String,
    /// 12-digit account id.
    pub account: String,
}

/// Why a request could not be turned into authorization requests. The guard must treat
/// every error as a deny: a request we do not understand is not a request we allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The body is not JSON (or not a JSON object).
    #[error("request body is not a JSON object: {0}")]
    InvalidJson(String),
    /// `X-Amz-Target` is not `<Service>.<Operation>` for the expected service.
    #[error("unrecognized X-Amz-Target {0:?}")]
    UnknownTarget(String),
    /// A required field is missing or has the wrong type (path like `TransactItems[1].Put.TableName`).
    #[error("missing or invalid field {0}")]
    InvalidField(String),
    /// `partition_key_of` does not know the table or index.
    #[error("partition key of table {table:?} (index {index:?}) is unknown")]
    UnknownPartitionKey {
        /// Table name.
        table: String,
        /// Index name, if the request used one.
        index: Option<String>,
    },
    /// The Query `KeyConditionExpression` is not syntactically valid.
    #[error("cannot parse KeyConditionExpression {expression:?}: {reason}")]
    InvalidKeyCondition {
        /// The expression as sent.
        expression: String,
        /// What went wrong.
        reason: String,
    },
    /// S3 method or path we do not map.
    #[error("unsupported S3 request: {0}")]
    UnsupportedS3Request(String),
    /// Bad percent-encoding or non-UTF-8 bytes in an S3 path or query.
    #[error("invalid percent-encoding in {0:?}")]
    InvalidEncoding(String),
}

const LEADING_KEYS: &str = "dynamodb:LeadingKeys";

// ---------------------------------------------------------------------------
// DynamoDB
// ---------------------------------------------------------------------------

/// DynamoDB JSON protocol: `target` is the `X-Amz-Target` header value
/// (`DynamoDB_20120810.GetItem`), `body` the JSON bytes.
///
/// `partition_key_of(table, index)` returns the partition-key attribute name of that table
/// or GSI/LSI; `None` (unknown) is an error for operations that need it.
///
/// * Item operations (`GetItem`, `PutItem`, `UpdateItem`, `DeleteItem`) and `Query` carry
///   `dynamodb:LeadingKeys` with the partition-key value (`S`, `N` or `B` as its JSON string).
///   If it cannot be determined the key is omitted so a `Null` guard denies.
/// * `TransactWriteItems`/`TransactGetItems`: one request per item with the item's own
///   action (`PutItem`, `UpdateItem`, `DeleteItem`, `ConditionCheckItem`, `GetItem`) and table.
/// * `BatchGetItem`/`BatchWriteItem`: one request per table with all of that table's leading
///   keys; if any key of the table lacks its partition key, none are reported.
/// * PartiQL (`ExecuteStatement`, `BatchExecuteStatement`, `ExecuteTransaction`): the API
///   action on the statement's table (or `*`), plus, as real IAM authorizes PartiQL, a
///   `dynamodb:PartiQL{Select,Insert,Update,Delete}` request per statement.
/// * Everything else (`Scan`, `DescribeTable`, `ListTables`, ...): the action on the table
///   (with `/index/<name>` when `IndexName` is given), else `ResourceArn`/`StreamArn`, else `*`.
///
/// `TableName` may be a table ARN, as the DynamoDB API allows.
pub fn dynamodb_requests(
    target: &str,
    body: &[u8],
    names: &ResourceNames,
    partition_key_of: &dyn Fn(&str, Option<&str>) -> Option<String>,
) -> Result<Vec<AuthzRequest>, ExtractError> {
    let (service, op) = split_target(target)?;
    if !(service.starts_with("DynamoDB_") || service.starts_with("DynamoDBStreams_")) {
        return Err(ExtractError::UnknownTarget(target.to_string()));
    }
    dynamodb_requests_in(op, &parse_body(body)?, names, partition_key_of)
}

/// `dynamodb_requests` for a parsed body.
fn dynamodb_requests_in(
    op: &str,
    body: &Map<String, Value>,
    names: &ResourceNames,
    partition_key_of: &dyn Fn(&str, Option<&str>) -> Option<String>,
) -> Result<Vec<AuthzRequest>, ExtractError> {
    let ddb = Ddb {
        names,
        partition_key_of,
    };
    let action = format!("dynamodb:{op}");
    match op {
        "GetItem" | "UpdateItem" | "DeleteItem" => ddb.single_item(&action, body, "Key", ""),
        "PutItem" => ddb.single_item(&action, body, "Item", ""),
        "Query" => ddb.query(&action, body),
        "TransactWriteItems" => ddb.transact_write(body),
        "TransactGetItems" => ddb.transact_get(body),
        "BatchGetItem" => ddb.batch(&action, body, |table, entry| {
            let keys = entry
                .get("Keys")
                .and_then(Value::as_array)
                .ok_or_else(|| field(format!("RequestItems.{table}.Keys")))?;
            Ok(keys.iter().map(Some).collect())
        }),
        "BatchWriteItem" => ddb.batch(&action, body, |table, entry| {
            let writes = entry
                .as_array()
                .ok_or_else(|| field(format!("RequestItems.{table}")))?;
            writes
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if let Some(put) = w.get("PutRequest") {
                        Ok(put.get("Item"))
                    } else if let Some(del) = w.get("DeleteRequest") {
                        Ok(del.get("Key"))
                    } else {
                        Err(field(format!(
                            "RequestItems.{table}[{i}] (expected PutRequest or DeleteRequest)"
                        )))
                    }
                })
                .collect()
        }),
        "ExecuteStatement" => {
            let statement = str_field(body, "Statement", "Statement")?;
            Ok(ddb.partiql(&action, &[statement]))
        }
        "BatchExecuteStatement" | "ExecuteTransaction" => {
            let list = if op == "BatchExecuteStatement" {
                "Statements"
            } else {
                "TransactStatements"
            };
            let items = body
                .get(list)
                .and_then(Value::as_array)
                .ok_or_else(|| field(list.to_string()))?;
            let statements = items
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    s.get("Statement")
                        .and_then(Value::as_str)
                        .ok_or_else(|| field(format!("{list}[{i}].Statement")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ddb.partiql(&action, &statements))
        }
        _ => {
            let resource = match body.get("TableName") {
                Some(_) => {
                    let table = ddb.table(body, "")?;
                    let index = opt_str_field(body, "IndexName", "IndexName")?;
                    table.resource(index)
                }
                None => ["ResourceArn", "StreamArn", "TableArn"]
                    .iter()
                    .find_map(|k| body.get(*k).and_then(Value::as_str))
                    .unwrap_or("*")
                    .to_string(),
            };
            Ok(vec![authz(&action, resource, BTreeMap::new())])
        }
    }
}

struct Ddb<'a> {
    names: &'a ResourceNames,
    partition_key_of: &'a dyn Fn(&str, Option<&str>) -> Option<String>,
}

struct Table {
    name: String,
    arn: String,
}

impl Table {
    fn resource(&self, index: Option<&str>) -> String {
        match index {
            Some(index) => format!("{}/index/{index}", self.arn),
            None => self.arn.clone(),
        }
    }
}

impl Ddb<'_> {
    fn table_ref(&self, raw: &str, path: &str) -> Result<Table, ExtractError> {
        if raw.is_empty() {
            return Err(field(path.to_string()));
        }
        if raw.starts_with("arn:") {
            // arn:aws:dynamodb:region:account:table/NAME
            let (prefix, rest) = raw
                .split_once(":table/")
                .ok_or_else(|| field(format!("{path} (not a table ARN: {raw:?})")))?;
            let name = rest.split('/').next().unwrap_or("");
            if name.is_empty() {
                return Err(field(format!("{path} (not a table ARN: {raw:?})")));
            }
            return Ok(Table {
                name: name.to_string(),
                arn: format!("{prefix}:table/{name}"),
            });
        }
        Ok(Table {
            name: raw.to_string(),
            arn: format!(
                "arn:aws:dynamodb:{}:{}:table/{raw}",
                self.names.region, self.names.account
            ),
        })
    }

    /// `TableName` of `obj`; `prefix` is the JSON path of `obj`, for error messages.
    fn table(&self, obj: &Map<String, Value>, prefix: &str) -> Result<Table, ExtractError> {
        let path = format!("{prefix}TableName");
        let raw = str_field(obj, "TableName", &path)?;
        self.table_ref(raw, &path)
    }

    fn partition_key(&self, table: &Table, index: Option<&str>) -> Result<String, ExtractError> {
        (self.partition_key_of)(&table.name, index).ok_or_else(|| {
            ExtractError::UnknownPartitionKey {
                table: table.name.clone(),
                index: index.map(str::to_owned),
            }
        })
    }

    /// Get/Put/Update/Delete (also used for transaction items): `key_field` is `Key` or `Item`.
    fn single_item(
        &self,
        action: &str,
        obj: &Map<String, Value>,
        key_field: &str,
        prefix: &str,
    ) -> Result<Vec<AuthzRequest>, ExtractError> {
        let table = self.table(obj, prefix)?;
        let pk = self.partition_key(&table, None)?;
        let leading = obj.get(key_field).and_then(|item| leading_value(item, &pk));
        Ok(vec![authz(
            action,
            table.resource(None),
            leading_context(leading.map(|v| vec![v])),
        )])
    }

    fn query(
        &self,
        action: &str,
        body: &Map<String, Value>,
    ) -> Result<Vec<AuthzRequest>, ExtractError> {
        let table = self.table(body, "")?;
        let index = opt_str_field(body, "IndexName", "IndexName")?;
        let pk = self.partition_key(&table, index)?;
        let leading = if let Some(expr) = body.get("KeyConditionExpression") {
            let expr = expr
                .as_str()
                .ok_or_else(|| field("KeyConditionExpression".into()))?;
            key_condition_values(expr, body, &pk)?
        } else if let Some(conditions) = body.get("KeyConditions") {
            // Legacy parameter: {"attr": {"ComparisonOperator": "EQ", "AttributeValueList": [..]}}
            conditions
                .get(&pk)
                .filter(|c| c.get("ComparisonOperator").and_then(Value::as_str) == Some("EQ"))
                .and_then(|c| c.get("AttributeValueList"))
                .and_then(|l| l.get(0))
                .and_then(attribute_string)
                .map(|v| vec![v])
        } else {
            None
        };
        Ok(vec![authz(
            action,
            table.resource(index),
            leading_context(leading),
        )])
    }

    fn transact_write(&self, body: &Map<String, Value>) -> Result<Vec<AuthzRequest>, ExtractError> {
        let items = body
            .get("TransactItems")
            .and_then(Value::as_array)
            .ok_or_else(|| field("TransactItems".into()))?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let kinds = [
                ("Put", "dynamodb:PutItem", "Item"),
                ("Update", "dynamodb:UpdateItem", "Key"),
                ("Delete", "dynamodb:DeleteItem", "Key"),
                ("ConditionCheck", "dynamodb:ConditionCheckItem", "Key"),
            ];
            let (kind, action, key_field, inner) = kinds
                .iter()
                .find_map(|(kind, action, key_field)| {
                    item.get(*kind)
                        .and_then(Value::as_object)
                        .map(|inner| (*kind, *action, *key_field, inner))
                })
                .ok_or_else(|| {
                    field(format!(
                        "TransactItems[{i}] (expected Put, Update, Delete or ConditionCheck)"
                    ))
                })?;
            out.extend(self.single_item(
                action,
                inner,
                key_field,
                &format!("TransactItems[{i}].{kind}."),
            )?);
        }
        Ok(out)
    }

    fn transact_get(&self, body: &Map<String, Value>) -> Result<Vec<AuthzRequest>, ExtractError> {
        let items = body
            .get("TransactItems")
            .and_then(Value::as_array)
            .ok_or_else(|| field("TransactItems".into()))?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let get = item
                .get("Get")
                .and_then(Value::as_object)
                .ok_or_else(|| field(format!("TransactItems[{i}].Get")))?;
            out.extend(self.single_item(
                "dynamodb:GetItem",
                get,
                "Key",
                &format!("TransactItems[{i}].Get."),
            )?);
        }
        Ok(out)
    }

    /// BatchGetItem/BatchWriteItem: `keys_of` lists each key/item of one table's entry
    /// (`None` where the request has neither).
    fn batch<'b>(
        &self,
        action: &str,
        body: &'b Map<String, Value>,
        keys_of: impl Fn(&str, &'b Value) -> Result<Vec<Option<&'b Value>>, ExtractError>,
    ) -> Result<Vec<AuthzRequest>, ExtractError> {
        let request_items = body
            .get("RequestItems")
            .and_then(Value::as_object)
            .ok_or_else(|| field("RequestItems".into()))?;
        let mut out = Vec::with_capacity(request_items.len());
        for (raw_table, entry) in request_items {
            let table = self.table_ref(raw_table, "RequestItems")?;
            let pk = self.partition_key(&table, None)?;
            let keys = keys_of(raw_table, entry)?;
            // One undeterminable key makes the whole table's set unknown: reporting only
            // the others would let that item ride along unchecked.
            let leading = keys
                .iter()
                .map(|k| k.and_then(|k| leading_value(k, &pk)))
                .collect::<Option<Vec<_>>>()
                .map(dedup)
                .filter(|v| !v.is_empty());
            out.push(authz(
                action,
                table.resource(None),
                leading_context(leading),
            ));
        }
        Ok(out)
    }

    fn partiql(&self, action: &str, statements: &[&str]) -> Vec<AuthzRequest> {
        let parsed: Vec<(Option<&str>, Option<String>)> = statements
            .iter()
            .map(|s| self.partiql_statement(s))
            .collect();
        // The API action itself: on the one table all statements address, else `*`.
        let api_resource = match parsed.first() {
            Some((_, Some(first))) if parsed.iter().all(|(_, r)| r.as_ref() == Some(first)) => {
                first.clone()
            }
            _ => "*".to_string(),
        };
        let mut out = vec![authz(action, api_resource, BTreeMap::new())];
        for (verb, resource) in parsed {
            if let Some(verb) = verb {
                out.push(authz(
                    &format!("dynamodb:PartiQL{verb}"),
                    resource.unwrap_or_else(|| "*".to_string()),
                    BTreeMap::new(),
                ));
            }
        }
        out
    }

    /// Best effort: (`Select`|`Insert`|`Update`|`Delete`, resource ARN of the table/index).
    fn partiql_statement(&self, statement: &str) -> (Option<&'static str>, Option<String>) {
        let words: Vec<&str> = statement.split_whitespace().collect();
        let first = words.first().map(|w| w.to_ascii_uppercase());
        let (verb, after) = match first.as_deref() {
            Some("SELECT") => ("Select", "FROM"),
            Some("INSERT") => ("Insert", "INTO"),
            Some("UPDATE") => ("Update", "UPDATE"),
            Some("DELETE") => ("Delete", "FROM"),
            _ => return (None, None),
        };
        // Locate the table reference after the keyword in the original text.
        let upper = statement.to_ascii_uppercase();
        let start = if after == "UPDATE" {
            upper.find("UPDATE").map(|i| i + "UPDATE".len())
        } else {
            find_keyword(&upper, after).map(|i| i + after.len())
        };
        let Some(start) = start else {
            return (Some(verb), None);
        };
        let rest = statement[start..].trim_start();
        let Some((table, rest)) = partiql_identifier(rest) else {
            return (Some(verb), None);
        };
        let index = rest
            .strip_prefix('.')
            .and_then(partiql_identifier)
            .map(|(i, _)| i);
        let resource = self
            .table_ref(&table, "Statement")
            .ok()
            .map(|t| t.resource(index.as_deref()));
        (Some(verb), resource)
    }
}

/// Position of `keyword` as a whole word in `upper` (already upper-cased).
fn find_keyword(upper: &str, keyword: &str) -> Option<usize> {
    let bytes = upper.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    upper.match_indices(keyword).map(|(i, _)| i).find(|&i| {
        let before = i == 0 || !is_word(bytes[i - 1]);
        let end = i + keyword.len();
        let after = end >= bytes.len() || !is_word(bytes[end]);
        before && after
    })
}

/// `"quoted"` or bare identifier at the start of `s`; returns it and the remainder.
fn partiql_identifier(s: &str) -> Option<(String, &str)> {
    if let Some(rest) = s.strip_prefix('"') {
        let end = rest.find('"')?;
        return Some((rest[..end].to_string(), &rest[end + 1..]));
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
        .unwrap_or(s.len());
    (end > 0).then(|| (s[..end].to_string(), &s[end..]))
}

/// The partition-key value of a `Key`/`Item` map, as IAM reports it in LeadingKeys.
fn leading_value(item: &Value, pk: &str) -> Option<String> {
    item.get(pk).and_then(attribute_string)
}

/// `{"S": ".."}`, `{"N": ".."}` or `{"B": "<base64>"}` → its string; anything else is not
/// a valid key value.
fn attribute_string(av: &Value) -> Option<String> {
    let obj = av.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    ["S", "N", "B"]
        .iter()
        .find_map(|t| obj.get(*t).and_then(Value::as_str))
        .map(str::to_owned)
}

fn leading_context(values: Option<Vec<String>>) -> BTreeMap<String, Vec<String>> {
    let mut ctx = BTreeMap::new();
    if let Some(values) = values.filter(|v| !v.is_empty()) {
        ctx.insert(LEADING_KEYS.to_string(), values);
    }
    ctx
}

fn dedup(values: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

// --- KeyConditionExpression -------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum KTok {
    /// Attribute name: `#placeholder` or a bare name.
    Name(String),
    /// `:placeholder`.
    Value(String),
    Cmp(&'static str),
    LParen,
    RParen,
    Comma,
    And,
    Between,
    /// `OR`/`NOT`/`IN`: not allowed in key conditions.
    Unsupported(String),
}

#[derive(Debug)]
enum Clause {
    /// `a <op> b`
    Cmp(KTok, &'static str, KTok),
    /// `begins_with(..)` or `x BETWEEN a AND b`: only ever on the sort key, skipped.
    Other,
}

fn tokenize(expr: &str) -> Result<Vec<KTok>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let is_ident = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-');
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(KTok::LParen);
                i += 1;
            }
            ')' => {
                out.push(KTok::RParen);
                i += 1;
            }
            ',' => {
                out.push(KTok::Comma);
                i += 1;
            }
            '=' => {
                out.push(KTok::Cmp("="));
                i += 1;
            }
            '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let op = match (c, next) {
                    ('<', Some('=')) => "<=",
                    ('<', Some('>')) => "<>",
                    ('>', Some('=')) => ">=",
                    ('<', _) => "<",
                    _ => ">",
                };
                out.push(KTok::Cmp(op));
                i += op.len();
            }
            '#' | ':' => {
                let start = i;
                i += 1;
                while i < chars.len() && is_ident(chars[i]) && chars[i] != '.' {
                    i += 1;
                }
                if i == start + 1 {
                    return Err(format!("empty placeholder at offset {start}"));
                }
                let text: String = chars[start..i].iter().collect();
                out.push(if c == '#' {
                    KTok::Name(text)
                } else {
                    KTok::Value(text)
                });
            }
            c if is_ident(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(match word.to_ascii_uppercase().as_str() {
                    "AND" => KTok::And,
                    "BETWEEN" => KTok::Between,
                    "OR" | "NOT" | "IN" => KTok::Unsupported(word),
                    _ => KTok::Name(word),
                });
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct KeyCondParser {
    toks: Vec<KTok>,
    pos: usize,
}

impl KeyCondParser {
    fn peek(&self) -> Option<&KTok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<KTok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: &KTok) -> Result<(), String> {
        match self.next() {
            Some(t) if &t == want => Ok(()),
            other => Err(format!("expected {want:?}, found {other:?}")),
        }
    }

    fn conjunction(&mut self) -> Result<Vec<Clause>, String> {
        let mut clauses = self.term()?;
        while self.peek() == Some(&KTok::And) {
            self.pos += 1;
            clauses.extend(self.term()?);
        }
        Ok(clauses)
    }

    fn term(&mut self) -> Result<Vec<Clause>, String> {
        if self.peek() == Some(&KTok::LParen) {
            self.pos += 1;
            let inner = self.conjunction()?;
            self.expect(&KTok::RParen)?;
            return Ok(inner);
        }
        Ok(vec![self.clause()?])
    }

    fn operand(&mut self) -> Result<KTok, String> {
        match self.next() {
            Some(t @ (KTok::Name(_) | KTok::Value(_))) => Ok(t),
            other => Err(format!("expected an attribute or value, found {other:?}")),
        }
    }

    fn clause(&mut self) -> Result<Clause, String> {
        // Function call, e.g. begins_with(#sk, :prefix).
        if let (Some(KTok::Name(_)), Some(KTok::LParen)) =
            (self.toks.get(self.pos), self.toks.get(self.pos + 1))
        {
            self.pos += 2;
            self.operand()?;
            while self.peek() == Some(&KTok::Comma) {
                self.pos += 1;
                self.operand()?;
            }
            self.expect(&KTok::RParen)?;
            return Ok(Clause::Other);
        }
        let left = self.operand()?;
        match self.next() {
            Some(KTok::Cmp(op)) => Ok(Clause::Cmp(left, op, self.operand()?)),
            Some(KTok::Between) => {
                self.operand()?;
                self.expect(&KTok::And)?;
                self.operand()?;
                Ok(Clause::Other)
            }
            other => Err(format!("expected a comparison, found {other:?}")),
        }
    }
}

/// Partition-key values of a Query `KeyConditionExpression`: `Ok(None)` when they cannot
/// be determined (unresolvable placeholder, no equality on the partition key).
fn key_condition_values(
    expr: &str,
    body: &Map<String, Value>,
    pk: &str,
) -> Result<Option<Vec<String>>, ExtractError> {
    let invalid = |reason: String| ExtractError::InvalidKeyCondition {
        expression: expr.to_string(),
        reason,
    };
    let toks = tokenize(expr).map_err(invalid)?;
    if let Some(KTok::Unsupported(word)) = toks.iter().find(|t| matches!(t, KTok::Unsupported(_))) {
        return Err(invalid(format!("{word} is not allowed in a key condition")));
    }
    let mut parser = KeyCondParser { toks, pos: 0 };
    let clauses = parser.conjunction().map_err(invalid)?;
    if parser.pos < parser.toks.len() {
        return Err(invalid(format!("unexpected {:?}", parser.toks[parser.pos])));
    }

    let names = body
        .get("ExpressionAttributeNames")
        .and_then(Value::as_object);
    let values = body
        .get("ExpressionAttributeValues")
        .and_then(Value::as_object);
    let resolve_name = |n: &str| -> Option<String> {
        if n.starts_with('#') {
            names?.get(n)?.as_str().map(str::to_owned)
        } else {
            Some(n.to_string())
        }
    };
    let mut out = Vec::new();
    for clause in clauses {
        let Clause::Cmp(a, op, b) = clause else {
            continue;
        };
        let (name, value) = match (a, b) {
            (KTok::Name(n), KTok::Value(v)) | (KTok::Value(v), KTok::Name(n)) => (n, v),
            _ => continue,
        };
        // An unresolvable name could be the partition key: give up (fail closed).
        let Some(name) = resolve_name(&name) else {
            return Ok(None);
        };
        if name != pk {
            continue;
        }
        if op != "=" {
            return Ok(None);
        }
        match values
            .and_then(|m| m.get(&value))
            .and_then(attribute_string)
        {
            Some(v) => out.push(v),
            None => return Ok(None),
        }
    }
    Ok(Some(dedup(out)).filter(|v| !v.is_empty()))
}

// ---------------------------------------------------------------------------
// KMS
// ---------------------------------------------------------------------------

/// KMS JSON protocol: `target` is `TrentService.<Operation>`.
///
/// Action `kms:<Operation>`; resource is `KeyId` when it is an ARN, else
/// `arn:aws:kms:{region}:{account}:key/{KeyId}` (`alias/...` → the alias ARN, with
/// `kms:RequestAlias` set: real IAM would authorize against the aliased key, which we
/// cannot resolve locally, so policies on aliases should be written against alias ARNs or
/// `kms:RequestAlias`). Context: `kms:EncryptionContext:<k>` for every entry of
/// `EncryptionContext`, `kms:EncryptionContextKeys` (multi-valued) and
/// `kms:EncryptionAlgorithm` when present.
///
/// `Decrypt` without `KeyId`: real KMS takes the key from the ciphertext. If the blob has
/// the moto/LocalStack layout (36-byte key id prefix) that key is used, else the resource
/// is `arn:aws:kms:{region}:{account}:key/*`, which only matches policies granting all keys.
/// `ReEncrypt` becomes `kms:ReEncryptFrom` (source key and context) plus `kms:ReEncryptTo`
/// (destination). `CreateAlias`/`UpdateAlias` are checked on the alias and the target key.
/// Operations without a key (`CreateKey`, `ListKeys`, ...) use resource `*`.
pub fn kms_requests(
    target: &str,
    body: &[u8],
    names: &ResourceNames,
) -> Result<Vec<AuthzRequest>, ExtractError> {
    let (service, op) = split_target(target)?;
    if service != "TrentService" {
        return Err(ExtractError::UnknownTarget(target.to_string()));
    }
    let body = parse_body(body)?;
    let action = format!("kms:{op}");
    let key_arn = |id: &str| -> String {
        if id.starts_with("arn:") {
            id.to_string()
        } else if id.starts_with("alias/") {
            format!("arn:aws:kms:{}:{}:{id}", names.region, names.account)
        } else {
            format!("arn:aws:kms:{}:{}:key/{id}", names.region, names.account)
        }
    };
    let any_key = format!("arn:aws:kms:{}:{}:key/*", names.region, names.account);
    let request = |action: &str,
                   key_field: &str,
                   ec_field: &str,
                   alg_field: &str,
                   fallback: &str|
     -> Result<AuthzRequest, ExtractError> {
        let key = opt_str_field(&body, key_field, key_field)?;
        let mut ctx = encryption_context(&body, ec_field)?;
        if let Some(alg) = opt_str_field(&body, alg_field, alg_field)? {
            ctx.insert("kms:EncryptionAlgorithm".into(), vec![alg.to_string()]);
        }
        let resource = match key {
            Some("") => return Err(field(key_field.to_string())),
            Some(id) => {
                if let Some(alias) = alias_name(id) {
                    ctx.insert("kms:RequestAlias".into(), vec![alias]);
                }
                key_arn(id)
            }
            None => fallback.to_string(),
        };
        Ok(authz(action, resource, ctx))
    };

    match op {
        "Decrypt" => {
            let fallback = blob_key_id(&body).map_or_else(|| any_key.clone(), |id| key_arn(&id));
            Ok(vec![request(
                &action,
                "KeyId",
                "EncryptionContext",
                "EncryptionAlgorithm",
                &fallback,
            )?])
        }
        "ReEncrypt" => {
            let fallback = blob_key_id(&body).map_or_else(|| any_key.clone(), |id| key_arn(&id));
            let from = request(
                "kms:ReEncryptFrom",
                "SourceKeyId",
                "SourceEncryptionContext",
                "SourceEncryptionAlgorithm",
                &fallback,
            )?;
            str_field(&body, "DestinationKeyId", "DestinationKeyId")?;
            let to = request(
                "kms:ReEncryptTo",
                "DestinationKeyId",
                "DestinationEncryptionContext",
                "DestinationEncryptionAlgorithm",
                "*",
            )?;
            Ok(vec![from, to])
        }
        "CreateAlias" | "UpdateAlias" | "DeleteAlias" => {
            let alias = str_field(&body, "AliasName", "AliasName")?;
            let mut out = vec![authz(&action, key_arn(alias), BTreeMap::new())];
            if let Some(target) = opt_str_field(&body, "TargetKeyId", "TargetKeyId")? {
                out.push(authz(&action, key_arn(target), BTreeMap::new()));
            }
            Ok(out)
        }
        _ => Ok(vec![request(
            &action,
            "KeyId",
            "EncryptionContext",
            "EncryptionAlgorithm",
            "*",
        )?]),
    }
}

fn alias_name(key_id: &str) -> Option<String> {
    if key_id.starts_with("alias/") {
        return Some(key_id.to_string());
    }
    key_id
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":alias/"))
        .map(|(_, name)| format!("alias/{name}"))
}

fn encryption_context(
    body: &Map<String, Value>,
    ec_field: &str,
) -> Result<BTreeMap<String, Vec<String>>, ExtractError> {
    let mut ctx = BTreeMap::new();
    let Some(raw) = body.get(ec_field) else {
        return Ok(ctx);
    };
    let ec = raw.as_object().ok_or_else(|| field(ec_field.to_string()))?;
    let mut keys = Vec::with_capacity(ec.len());
    for (k, v) in ec {
        let v = v.as_str().ok_or_else(|| field(format!("{ec_field}.{k}")))?;
        ctx.insert(format!("kms:EncryptionContext:{k}"), vec![v.to_string()]);
        keys.push(k.clone());
    }
    if !keys.is_empty() {
        ctx.insert("kms:EncryptionContextKeys".into(), keys);
    }
    Ok(ctx)
}

/// Key id embedded in a moto/LocalStack ciphertext blob (first 36 bytes: a UUID or an
/// `mrk-` multi-Region id). Real KMS blobs do not match this layout and yield `None`.
fn blob_key_id(body: &Map<String, Value>) -> Option<String> {
    let blob = body.get("CiphertextBlob")?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .ok()?;
    let head = std::str::from_utf8(bytes.get(..36)?).ok()?;
    let hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    let is_uuid = {
        let parts: Vec<&str> = head.split('-').collect();
        parts.len() == 5
            && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
            && parts.iter().all(|p| hex(p))
    };
    let is_mrk = head
        .strip_prefix("mrk-")
        .is_some_and(|h| h.len() == 32 && hex(h));
    (is_uuid || is_mrk).then(|| head.to_string())
}

// ---------------------------------------------------------------------------
// S3
// ---------------------------------------------------------------------------

/// S3 REST API, path-style addressing (`/bucket/key`): `method`, the raw (percent-encoded)
/// `path` and the raw `query` string (without `?`).
///
/// Object requests use resource `arn:aws:s3:::bucket/key` (key percent-decoded), bucket
/// requests `arn:aws:s3:::bucket`. Main mappings: GET/HEAD object → `s3:GetObject`
/// (`s3:GetObjectVersion` with `versionId`), PUT → `s3:PutObject`, DELETE →
/// `s3:DeleteObject`, GET bucket → `s3:ListBucket` with `s3:prefix`/`s3:delimiter`/
/// `s3:max-keys` from the query, HEAD bucket → `s3:ListBucket`; subresources (`?acl`,
/// `?tagging`, `?uploads`, `?versions`, ...) map to their IAM action on a best-effort basis.
/// Limits: headers and bodies are not seen, so CopyObject is checked only as `PutObject`
/// on the destination, and multi-object delete (`POST ?delete`) as `s3:DeleteObject` on
/// `arn:aws:s3:::bucket/*` (so only a bucket-wide grant allows it).
pub fn s3_requests(
    method: &str,
    path: &str,
    query: &str,
    names: &ResourceNames,
) -> Result<Vec<AuthzRequest>, ExtractError> {
    let _ = names; // S3 ARNs carry neither region nor account.
    let method = method.to_ascii_uppercase();
    let params = parse_query(query)?;
    let has = |name: &str| params.iter().any(|(k, _)| k == name);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
    };

    let raw = path.strip_prefix('/').unwrap_or(path);
    let (raw_bucket, raw_key) = match raw.split_once('/') {
        Some((b, k)) => (b, k),
        None => (raw, ""),
    };
    let bucket = percent_decode(raw_bucket, false)?;
    let key = percent_decode(raw_key, false)?;

    if bucket.is_empty() {
        return match method.as_str() {
            "GET" if key.is_empty() => Ok(vec![authz(
                "s3:ListAllMyBuckets",
                "*".into(),
                BTreeMap::new(),
            )]),
            _ => Err(ExtractError::UnsupportedS3Request(format!(
                "{method} {path}"
            ))),
        };
    }

    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let mut ctx = BTreeMap::new();

    if key.is_empty() {
        let action = match method.as_str() {
            "GET" => {
                let sub = [
                    ("versions", "ListBucketVersions"),
                    ("uploads", "ListBucketMultipartUploads"),
                    ("location", "GetBucketLocation"),
                    ("policy", "GetBucketPolicy"),
                    ("policyStatus", "GetBucketPolicyStatus"),
                    ("acl", "GetBucketAcl"),
                    ("tagging", "GetBucketTagging"),
                    ("cors", "GetBucketCORS"),
                    ("versioning", "GetBucketVersioning"),
                    ("lifecycle", "GetLifecycleConfiguration"),
                    ("encryption", "GetEncryptionConfiguration"),
                    ("notification", "GetBucketNotification"),
                    ("website", "GetBucketWebsite"),
                    ("logging", "GetBucketLogging"),
                    ("object-lock", "GetBucketObjectLockConfiguration"),
                    ("ownershipControls", "GetBucketOwnershipControls"),
                    ("publicAccessBlock", "GetBucketPublicAccessBlock"),
                    ("replication", "GetReplicationConfiguration"),
                    ("accelerate", "GetAccelerateConfiguration"),
                    ("requestPayment", "GetBucketRequestPayment"),
                ]
                .iter()
                .find(|(q, _)| has(q))
                .map(|(_, a)| *a);
                let action = sub.unwrap_or("ListBucket");
                if matches!(action, "ListBucket" | "ListBucketVersions") {
                    for (q, k) in [
                        ("prefix", "s3:prefix"),
                        ("delimiter", "s3:delimiter"),
                        ("max-keys", "s3:max-keys"),
                    ] {
                        if let Some(v) = param(q) {
                            ctx.insert(k.to_string(), vec![v]);
                        }
                    }
                }
                action
            }
            "HEAD" => "ListBucket",
            "PUT" => [
                ("policy", "PutBucketPolicy"),
                ("acl", "PutBucketAcl"),
                ("tagging", "PutBucketTagging"),
                ("cors", "PutBucketCORS"),
                ("versioning", "PutBucketVersioning"),
                ("lifecycle", "PutLifecycleConfiguration"),
                ("encryption", "PutEncryptionConfiguration"),
                ("notification", "PutBucketNotification"),
                ("website", "PutBucketWebsite"),
                ("logging", "PutBucketLogging"),
                ("object-lock", "PutBucketObjectLockConfiguration"),
                ("ownershipControls", "PutBucketOwnershipControls"),
                ("publicAccessBlock", "PutBucketPublicAccessBlock"),
                ("replication", "PutReplicationConfiguration"),
                ("accelerate", "PutAccelerateConfiguration"),
                ("requestPayment", "PutBucketRequestPayment"),
            ]
            .iter()
            .find(|(q, _)| has(q))
            .map_or("CreateBucket", |(_, a)| *a),
            "DELETE" => [
                ("policy", "DeleteBucketPolicy"),
                ("tagging", "PutBucketTagging"),
                ("cors", "PutBucketCORS"),
                ("lifecycle", "PutLifecycleConfiguration"),
                ("encryption", "PutEncryptionConfiguration"),
                ("website", "DeleteBucketWebsite"),
                ("ownershipControls", "PutBucketOwnershipControls"),
                ("publicAccessBlock", "PutBucketPublicAccessBlock"),
                ("replication", "PutReplicationConfiguration"),
            ]
            .iter()
            .find(|(q, _)| has(q))
            .map_or("DeleteBucket", |(_, a)| *a),
            "POST" if has("delete") => {
                return Ok(vec![authz(
                    "s3:DeleteObject",
                    format!("{bucket_arn}/*"),
                    ctx,
                )]);
            }
            _ => {
                return Err(ExtractError::UnsupportedS3Request(format!(
                    "{method} {path}?{query}"
                )))
            }
        };
        return Ok(vec![authz(&format!("s3:{action}"), bucket_arn, ctx)]);
    }

    let version = param("versionId");
    if let Some(v) = &version {
        ctx.insert("s3:versionid".to_string(), vec![v.clone()]);
    }
    let versioned = |plain: &'static str, with_version: &'static str| {
        if version.is_some() {
            with_version
        } else {
            plain
        }
    };
    let action = match method.as_str() {
        "GET" => {
            if has("acl") {
                versioned("GetObjectAcl", "GetObjectVersionAcl")
            } else if has("tagging") {
                versioned("GetObjectTagging", "GetObjectVersionTagging")
            } else if has("uploadId") {
                "ListMultipartUploadParts"
            } else if has("attributes") {
                versioned("GetObjectAttributes", "GetObjectVersionAttributes")
            } else if has("retention") {
                "GetObjectRetention"
            } else if has("legal-hold") {
                "GetObjectLegalHold"
            } else if has("torrent") {
                versioned("GetObjectTorrent", "GetObjectVersionTorrent")
            } else {
                versioned("GetObject", "GetObjectVersion")
            }
        }
        "HEAD" => versioned("GetObject", "GetObjectVersion"),
        "PUT" => {
            if has("acl") {
                versioned("PutObjectAcl", "PutObjectVersionAcl")
            } else if has("tagging") {
                versioned("PutObjectTagging", "PutObjectVersionTagging")
            } else if has("retention") {
                "PutObjectRetention"
            } else if has("legal-hold") {
                "PutObjectLegalHold"
            } else {
                // PutObject, UploadPart, UploadPartCopy, CopyObject (destination).
                "PutObject"
            }
        }
        "DELETE" => {
            if has("uploadId") {
                "AbortMultipartUpload"
            } else if has("tagging") {
                versioned("DeleteObjectTagging", "DeleteObjectVersionTagging")
            } else {
                versioned("DeleteObject", "DeleteObjectVersion")
            }
        }
        "POST" => {
            if has("uploads") || has("uploadId") {
                "PutObject"
            } else if has("restore") {
                "RestoreObject"
            } else if has("select") {
                "GetObject"
            } else {
                return Err(ExtractError::UnsupportedS3Request(format!(
                    "{method} {path}?{query}"
                )));
            }
        }
        _ => {
            return Err(ExtractError::UnsupportedS3Request(format!(
                "{method} {path}"
            )))
        }
    };
    Ok(vec![authz(
        &format!("s3:{action}"),
        format!("{bucket_arn}/{key}"),
        ctx,
    )])
}

/// `a=1&b&c=%2F` → [("a", Some("1")), ("b", None), ("c", Some("/"))]; `+` is a space.
fn parse_query(query: &str) -> Result<Vec<(String, Option<String>)>, ExtractError> {
    query
        .strip_prefix('?')
        .unwrap_or(query)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => Ok((percent_decode(k, true)?, Some(percent_decode(v, true)?))),
            None => Ok((percent_decode(pair, true)?, None)),
        })
        .collect()
}

fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, ExtractError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| ExtractError::InvalidEncoding(s.to_string()))?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ExtractError::InvalidEncoding(s.to_string()))
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// `Service.Operation` with an alphanumeric operation.
fn split_target(target: &str) -> Result<(&str, &str), ExtractError> {
    match target.trim().split_once('.') {
        Some((service, op))
            if !service.is_empty()
                && !op.is_empty()
                && op.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            Ok((service, op))
        }
        _ => Err(ExtractError::UnknownTarget(target.to_string())),
    }
}

/// JSON object body; an empty body counts as `{}` (the SDK sends `{}` anyway).
fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ExtractError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match super::body::parse(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ExtractError::InvalidJson(format!(
            "expected an object, got {other}"
        ))),
        Err(e) => Err(ExtractError::InvalidJson(e.to_string())),
    }
}

fn field(path: String) -> ExtractError {
    ExtractError::InvalidField(path)
}

fn str_field<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<&'a str, ExtractError> {
    obj.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| field(path.to_string()))
}

fn opt_str_field<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<&'a str>, ExtractError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(field(path.to_string())),
    }
}

fn authz(action: &str, resource: String, context: BTreeMap<String, Vec<String>>) -> AuthzRequest {
    AuthzRequest {
        action: action.to_string(),
        resource,
        context,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::testdata::{product_policy, tags};
    use crate::iam::{Decision, PolicyDocument};
    use serde_json::json;

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/fv-data";

    fn names() -> ResourceNames {
        ResourceNames {
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    fn pk_of(table: &str, index: Option<&str>) -> Option<String> {
        match (table, index) {
            ("fv-data", None) => Some("pk".into()),
            ("fv-data", Some("gsi1")) => Some("gsi1pk".into()),
            ("fv-data", Some(_)) => None,
            ("fv-audit", None) => Some("tenant".into()),
            _ => None,
        }
    }

    /// Every DynamoDB case here also holds the parse that leaves items' non-key contents
    /// unbuilt (`body.rs`) to the whole document: the same requests, or the same error.
    fn ddb(op: &str, body: Value) -> Result<Vec<AuthzRequest>, ExtractError> {
        let extracted = dynamodb_requests(
            &format!("DynamoDB_20120810.{op}"),
            body.to_string().as_bytes(),
            &names(),
            &pk_of,
        );
        if let Value::Object(whole) = &body {
            assert_eq!(
                extracted,
                dynamodb_requests_in(op, whole, &names(), &pk_of),
                "{body}"
            );
        }
        extracted
    }

    fn ddb_ok(op: &str, body: Value) -> Vec<AuthzRequest> {
        ddb(op, body).unwrap()
    }

    fn leading(r: &AuthzRequest) -> Option<Vec<&str>> {
        r.context
            .get(LEADING_KEYS)
            .map(|v| v.iter().map(String::as_str).collect())
    }

    fn s(v: &str) -> Value {
        json!({ "S": v })
    }

    // --- DynamoDB item operations -------------------------------------------------

    #[test]
    fn get_put_update_delete_item() {
        let r = ddb_ok(
            "GetItem",
            json!({"TableName": "fv-data", "Key": {"pk": s("T#a#CUST#1"), "sk": s("A")}}),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].action, "dynamodb:GetItem");
        assert_eq!(r[0].resource, TABLE);
        assert_eq!(leading(&r[0]), Some(vec!["T#a#CUST#1"]));

        let r = ddb_ok(
            "PutItem",
            json!({"TableName": "fv-data", "Item": {"pk": s("T#a#JOB#2"), "n": {"N": "1"}}}),
        );
        assert_eq!(
            (r[0].action.as_str(), leading(&r[0])),
            ("dynamodb:PutItem", Some(vec!["T#a#JOB#2"]))
        );

        for op in ["UpdateItem", "DeleteItem"] {
            let r = ddb_ok(
                op,
                json!({"TableName": "fv-data", "Key": {"pk": s("T#b#X")}}),
            );
            assert_eq!(r[0].action, format!("dynamodb:{op}"));
            assert_eq!(leading(&r[0]), Some(vec!["T#b#X"]));
        }

        // N and B key values are reported as their JSON strings.
        let r = ddb_ok(
            "GetItem",
            json!({"TableName": "fv-audit", "Key": {"tenant": {"N": "42"}}}),
        );
        assert_eq!(leading(&r[0]), Some(vec!["42"]));
        let r = ddb_ok(
            "GetItem",
            json!({"TableName": "fv-audit", "Key": {"tenant": {"B": "AAE="}}}),
        );
        assert_eq!(leading(&r[0]), Some(vec!["AAE="]));
    }

    #[test]
    fn tenant_isolation_end_to_end() {
        let p = product_policy();
        let a = tags("a", "admin");
        let get = |pk: &str| {
            ddb_ok(
                "GetItem",
                json!({"TableName": "fv-data", "Key": {"pk": s(pk)}}),
            )
        };
        assert_eq!(
            p.evaluate_all(&get("T#a#CUST#1"), &a),
            Decision::Allow {
                sid: Some("TenantItems".into())
            }
        );
        assert_eq!(
            p.evaluate_all(&get("T#b#CUST#1"), &a),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate_all(&get("T#a#INV#1"), &tags("a", "technician")),
            Decision::ExplicitDeny {
                sid: Some("TechniciansNeverBilling".into())
            }
        );
    }

    #[test]
    fn undeterminable_partition_key_omits_leading_keys() {
        let p = product_policy();
        let a = tags("a", "admin");
        for body in [
            json!({"TableName": "fv-data", "Key": {"sk": s("T#a#1")}}),
            json!({"TableName": "fv-data", "Key": {"pk": {"M": {}}}}),
            json!({"TableName": "fv-data", "Key": {"pk": {"S": "T#a#1", "N": "1"}}}),
            json!({"TableName": "fv-data"}),
        ] {
            let r = ddb_ok("GetItem", body.clone());
            assert_eq!(leading(&r[0]), None, "{body}");
            assert_eq!(p.evaluate_all(&r, &a), Decision::ImplicitDeny, "{body}");
        }
    }

    #[test]
    fn unknown_table_or_index_is_an_error() {
        assert_eq!(
            ddb("GetItem", json!({"TableName": "nope", "Key": {}})).unwrap_err(),
            ExtractError::UnknownPartitionKey {
                table: "nope".into(),
                index: None
            }
        );
        assert_eq!(
            ddb("Query", json!({"TableName": "fv-data", "IndexName": "gsi9", "KeyConditionExpression": "a = :a"}))
                .unwrap_err(),
            ExtractError::UnknownPartitionKey { table: "fv-data".into(), index: Some("gsi9".into()) }
        );
    }

    #[test]
    fn table_name_may_be_an_arn() {
        let r = ddb_ok(
            "GetItem",
            json!({"TableName": TABLE, "Key": {"pk": s("T#a#1")}}),
        );
        assert_eq!(r[0].resource, TABLE);
        assert_eq!(leading(&r[0]), Some(vec!["T#a#1"]));
        let r = ddb_ok(
            "Query",
            json!({"TableName": TABLE, "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :p", "ExpressionAttributeValues": {":p": s("T#a#E")}}),
        );
        assert_eq!(r[0].resource, format!("{TABLE}/index/gsi1"));
        assert!(matches!(
            ddb(
                "GetItem",
                json!({"TableName": "arn:aws:dynamodb:us-east-1:1:stream/x", "Key": {}})
            ),
            Err(ExtractError::InvalidField(_))
        ));
    }

    // --- Query ----------------------------------------------------------------------

    fn query(expr: &str, names: Value, values: Value) -> Vec<AuthzRequest> {
        ddb_ok(
            "Query",
            json!({"TableName": "fv-data", "KeyConditionExpression": expr,
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}),
        )
    }

    #[test]
    fn query_key_condition_with_names_and_parentheses() {
        let vals = json!({":p": s("T#a#CUST#1"), ":s": s("NOTE#"), ":lo": s("A"), ":hi": s("Z")});
        let names = json!({"#p": "pk", "#s": "sk"});
        for expr in [
            "#p = :p",
            "pk = :p",
            ":p = #p",
            "(#p = :p) AND begins_with(#s, :s)",
            "((#p = :p)) and (#s BETWEEN :lo AND :hi)",
            "#s BETWEEN :lo AND :hi AND #p=:p",
            "begins_with ( #s , :s ) AND ( #p = :p )",
            "#p = :p AND #s >= :lo",
            "#p = :p AND #s <> :lo",
        ] {
            let r = query(expr, names.clone(), vals.clone());
            assert_eq!(r[0].action, "dynamodb:Query", "{expr}");
            assert_eq!(r[0].resource, TABLE, "{expr}");
            assert_eq!(leading(&r[0]), Some(vec!["T#a#CUST#1"]), "{expr}");
        }
    }

    #[test]
    fn query_on_index_uses_index_partition_key() {
        let r = ddb_ok(
            "Query",
            json!({"TableName": "fv-data", "IndexName": "gsi1",
            "KeyConditionExpression": "#g = :g AND #pk = :x",
            "ExpressionAttributeNames": {"#g": "gsi1pk", "#pk": "pk"},
            "ExpressionAttributeValues": {":g": s("T#a#EMAIL#x@y"), ":x": s("T#b#1")}}),
        );
        assert_eq!(r[0].resource, format!("{TABLE}/index/gsi1"));
        assert_eq!(leading(&r[0]), Some(vec!["T#a#EMAIL#x@y"]));
        assert!(product_policy()
            .evaluate_all(&r, &tags("a", "admin"))
            .is_allowed());
        assert!(!product_policy()
            .evaluate_all(&r, &tags("b", "admin"))
            .is_allowed());
    }

    #[test]
    fn query_without_determinable_partition_key() {
        // Unresolvable placeholders or no equality on the partition key: omit (Null guard denies).
        for (expr, names, values) in [
            ("#p = :p", json!({}), json!({":p": s("T#a#1")})),
            ("#p = :p", json!({"#p": "pk"}), json!({})),
            ("#p = :p", json!({"#p": "pk"}), json!({":p": {"L": []}})),
            ("sk = :p", json!({}), json!({":p": s("T#a#1")})),
            ("pk > :p", json!({}), json!({":p": s("T#a#1")})),
        ] {
            let r = query(expr, names, values);
            assert_eq!(leading(&r[0]), None, "{expr}");
        }
        let r = ddb_ok("Query", json!({"TableName": "fv-data"}));
        assert_eq!(leading(&r[0]), None);
    }

    #[test]
    fn query_legacy_key_conditions() {
        let r = ddb_ok(
            "Query",
            json!({"TableName": "fv-data", "KeyConditions": {
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [s("T#a#1")]},
            "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [s("X")]}}}),
        );
        assert_eq!(leading(&r[0]), Some(vec!["T#a#1"]));
    }

    #[test]
    fn malformed_key_conditions_are_errors() {
        for expr in [
            "#p = :p OR #p = :q",
            "#p = ",
            "(#p = :p",
            "#p = :p)",
            "#p :p",
            "#p = :p AND",
            "NOT #p = :p",
            "#p = :p; drop",
            "#p = :",
        ] {
            let e = ddb(
                "Query",
                json!({"TableName": "fv-data", "KeyConditionExpression": expr,
                "ExpressionAttributeNames": {"#p": "pk"}, "ExpressionAttributeValues": {":p": s("T#a#1")}}),
            );
            assert!(
                matches!(e, Err(ExtractError::InvalidKeyCondition { .. })),
                "{expr}: {e:?}"
            );
        }
        assert!(matches!(
            ddb(
                "Query",
                json!({"TableName": "fv-data", "KeyConditionExpression": 5})
            ),
            Err(ExtractError::InvalidField(_))
        ));
    }

    // --- transactions and batches -----------------------------------------------------

    #[test]
    fn transact_write_items_one_request_per_item() {
        let body = json!({"TransactItems": [
            {"Put": {"TableName": "fv-data", "Item": {"pk": s("T#a#JOB#1"), "sk": s("A")}}},
            {"Update": {"TableName": "fv-data", "Key": {"pk": s("T#a#JOB#2")}, "UpdateExpression": "SET x = :x"}},
            {"Delete": {"TableName": "fv-audit", "Key": {"tenant": s("T#a#AUD")}}},
            {"ConditionCheck": {"TableName": "fv-data", "Key": {"pk": s("T#a#CUST#1")}, "ConditionExpression": "attribute_exists(pk)"}}
        ]});
        let r = ddb_ok("TransactWriteItems", body);
        let summary: Vec<(&str, &str, Option<Vec<&str>>)> = r
            .iter()
            .map(|r| (r.action.as_str(), r.resource.as_str(), leading(r)))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("dynamodb:PutItem", TABLE, Some(vec!["T#a#JOB#1"])),
                ("dynamodb:UpdateItem", TABLE, Some(vec!["T#a#JOB#2"])),
                (
                    "dynamodb:DeleteItem",
                    "arn:aws:dynamodb:us-east-1:123456789012:table/fv-audit",
                    Some(vec!["T#a#AUD"])
                ),
                (
                    "dynamodb:ConditionCheckItem",
                    TABLE,
                    Some(vec!["T#a#CUST#1"])
                ),
            ]
        );
    }

    /// Writes whose items carry nested maps, lists and sets (an audit record's before and
    /// after): the same requests as from the whole document (`ddb` checks), keyed by the
    /// partition key; a partition key that is not a string stays unreadable.
    #[test]
    fn items_with_nested_attributes_give_the_same_requests() {
        let heavy = |pk: Value| {
            json!({
                "pk": pk,
                "sk": s("AUDIT#1"),
                "before": {"M": {"name": s("Old"), "tags": {"SS": ["a", "b"]}}},
                "after": {"M": {"locations": {"L": [{"M": {"city": s("Leeds")}}]}}},
                "amount": {"N": "1250"},
                "flag": {"BOOL": true},
                "none": {"NULL": true},
            })
        };
        let put = ddb_ok(
            "PutItem",
            json!({"TableName": "fv-data", "Item": heavy(s("T#a#CUST#1"))}),
        );
        assert_eq!(leading(&put[0]), Some(vec!["T#a#CUST#1"]));
        let tx = ddb_ok(
            "TransactWriteItems",
            json!({"TransactItems": [
                {"Put": {"TableName": "fv-data", "Item": heavy(s("T#a#CUST#2")),
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"TableName": "fv-data", "Item": heavy(json!({"M": {"S": s("T#a#X")}}))}}
            ]}),
        );
        assert_eq!(leading(&tx[0]), Some(vec!["T#a#CUST#2"]));
        assert_eq!(leading(&tx[1]), None, "a map is no key value");
        let batch = ddb_ok(
            "BatchWriteItem",
            json!({"RequestItems": {"fv-data": [
                {"PutRequest": {"Item": heavy(s("T#a#CUST#3"))}},
                {"DeleteRequest": {"Key": {"pk": s("T#a#CUST#4"), "sk": s("A")}}}
            ]}}),
        );
        assert_eq!(leading(&batch[0]), Some(vec!["T#a#CUST#3", "T#a#CUST#4"]));
    }

    #[test]
    fn transaction_mixing_tenants_is_denied() {
        let p = product_policy();
        let a = tags("a", "admin");
        let tx = |second: &str| {
            ddb_ok(
                "TransactWriteItems",
                json!({"TransactItems": [
                    {"Put": {"TableName": "fv-data", "Item": {"pk": s("T#a#JOB#1")}}},
                    {"Update": {"TableName": "fv-data", "Key": {"pk": s(second)}}}
                ]}),
            )
        };
        assert!(p.evaluate_all(&tx("T#a#JOB#2"), &a).is_allowed());
        let mixed = tx("T#b#JOB#2");
        let decisions: Vec<Decision> = mixed.iter().map(|r| p.evaluate(r, &a)).collect();
        assert!(decisions[0].is_allowed());
        assert_eq!(decisions[1], Decision::ImplicitDeny);
        assert_eq!(p.evaluate_all(&mixed, &a), Decision::ImplicitDeny);
    }

    #[test]
    fn transact_get_items() {
        let r = ddb_ok(
            "TransactGetItems",
            json!({"TransactItems": [
                {"Get": {"TableName": "fv-data", "Key": {"pk": s("T#a#1")}}},
                {"Get": {"TableName": "fv-data", "Key": {"pk": s("T#b#1")}}}
            ]}),
        );
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|r| r.action == "dynamodb:GetItem"));
        assert_eq!(leading(&r[1]), Some(vec!["T#b#1"]));
        assert!(!product_policy()
            .evaluate_all(&r, &tags("a", "admin"))
            .is_allowed());
    }

    #[test]
    fn malformed_transactions_are_errors() {
        for (op, body) in [
            ("TransactWriteItems", json!({})),
            (
                "TransactWriteItems",
                json!({"TransactItems": [{"Upsert": {}}]}),
            ),
            (
                "TransactWriteItems",
                json!({"TransactItems": [{"Put": {"Item": {}}}]}),
            ),
            ("TransactGetItems", json!({"TransactItems": [{"Put": {}}]})),
        ] {
            assert!(
                matches!(ddb(op, body.clone()), Err(ExtractError::InvalidField(_))),
                "{body}"
            );
        }
        assert_eq!(
            ddb(
                "TransactWriteItems",
                json!({"TransactItems": [{"Put": {"Item": {}}}]})
            )
            .unwrap_err(),
            ExtractError::InvalidField("TransactItems[0].Put.TableName".into())
        );
    }

    #[test]
    fn batch_get_item_per_table() {
        let r = ddb_ok(
            "BatchGetItem",
            json!({"RequestItems": {
                "fv-data": {"Keys": [{"pk": s("T#a#1")}, {"pk": s("T#a#2")}, {"pk": s("T#a#1")}]},
                "fv-audit": {"Keys": [{"tenant": s("T#a#A")}]}
            }}),
        );
        assert_eq!(r.len(), 2);
        let data = r.iter().find(|r| r.resource == TABLE).unwrap();
        assert_eq!(data.action, "dynamodb:BatchGetItem");
        assert_eq!(leading(data), Some(vec!["T#a#1", "T#a#2"]));
        assert!(product_policy()
            .evaluate(data, &tags("a", "admin"))
            .is_allowed());

        let r = ddb_ok(
            "BatchGetItem",
            json!({"RequestItems": {
            "fv-data": {"Keys": [{"pk": s("T#a#1")}, {"pk": s("T#b#2")}]}}}),
        );
        assert_eq!(leading(&r[0]), Some(vec!["T#a#1", "T#b#2"]));
        assert!(!product_policy()
            .evaluate_all(&r, &tags("a", "admin"))
            .is_allowed());

        // One key without a partition key hides the whole table's set.
        let r = ddb_ok(
            "BatchGetItem",
            json!({"RequestItems": {
            "fv-data": {"Keys": [{"pk": s("T#a#1")}, {"sk": s("x")}]}}}),
        );
        assert_eq!(leading(&r[0]), None);
    }

    #[test]
    fn batch_write_item_per_table() {
        let r = ddb_ok(
            "BatchWriteItem",
            json!({"RequestItems": {
            "fv-data": [
                {"PutRequest": {"Item": {"pk": s("T#a#1"), "x": s("y")}}},
                {"DeleteRequest": {"Key": {"pk": s("T#a#INV#3")}}}
            ]}}),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].action, "dynamodb:BatchWriteItem");
        assert_eq!(leading(&r[0]), Some(vec!["T#a#1", "T#a#INV#3"]));
        let p = product_policy();
        assert!(p.evaluate_all(&r, &tags("a", "admin")).is_allowed());
        assert!(!p.evaluate_all(&r, &tags("a", "technician")).is_allowed());
        assert!(matches!(
            ddb(
                "BatchWriteItem",
                json!({"RequestItems": {"fv-data": [{"Upsert": {}}]}})
            ),
            Err(ExtractError::InvalidField(_))
        ));
    }

    // --- other DynamoDB operations ------------------------------------------------------

    #[test]
    fn scan_and_table_operations_have_no_leading_keys() {
        let r = ddb_ok("Scan", json!({"TableName": "fv-data"}));
        assert_eq!(
            (r[0].action.as_str(), r[0].resource.as_str()),
            ("dynamodb:Scan", TABLE)
        );
        assert!(r[0].context.is_empty());
        let p = product_policy();
        assert_eq!(
            p.evaluate_all(&r, &tags("a", "admin")),
            Decision::ExplicitDeny {
                sid: Some("NoTableWideReads".into())
            }
        );
        let r = ddb_ok("Scan", json!({"TableName": "fv-data", "IndexName": "gsi1"}));
        assert_eq!(r[0].resource, format!("{TABLE}/index/gsi1"));

        let r = ddb_ok("DescribeTable", json!({"TableName": "fv-data"}));
        assert_eq!(
            (r[0].action.as_str(), r[0].resource.as_str()),
            ("dynamodb:DescribeTable", TABLE)
        );
        let r = dynamodb_requests("DynamoDB_20120810.ListTables", b"", &names(), &pk_of).unwrap();
        assert_eq!(
            (r[0].action.as_str(), r[0].resource.as_str()),
            ("dynamodb:ListTables", "*")
        );
        let r = ddb_ok("ListTagsOfResource", json!({"ResourceArn": TABLE}));
        assert_eq!(r[0].resource, TABLE);
    }

    #[test]
    fn partiql_statements() {
        let r = ddb_ok(
            "ExecuteStatement",
            json!({"Statement": "SELECT * FROM \"fv-data\" WHERE pk = ?"}),
        );
        let summary: Vec<(&str, &str)> = r
            .iter()
            .map(|r| (r.action.as_str(), r.resource.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("dynamodb:ExecuteStatement", TABLE),
                ("dynamodb:PartiQLSelect", TABLE)
            ]
        );
        assert!(r.iter().all(|r| r.context.is_empty()));
        assert_eq!(
            product_policy().evaluate_all(&r, &tags("a", "admin")),
            Decision::ExplicitDeny {
                sid: Some("NoTableWideReads".into())
            }
        );

        let r = ddb_ok(
            "ExecuteStatement",
            json!({"Statement": "select pk from \"fv-data\".\"gsi1\""}),
        );
        assert_eq!(r[1].resource, format!("{TABLE}/index/gsi1"));

        let r = ddb_ok(
            "BatchExecuteStatement",
            json!({"Statements": [
                {"Statement": "INSERT INTO fv-data VALUE {'pk': 'T#a#1'}"},
                {"Statement": "UPDATE \"fv-audit\" SET x = 1 WHERE tenant = 'T#a'"},
                {"Statement": "DELETE FROM \"fv-data\" WHERE pk = 'x'"}
            ]}),
        );
        let summary: Vec<(&str, &str)> = r
            .iter()
            .map(|r| (r.action.as_str(), r.resource.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("dynamodb:BatchExecuteStatement", "*"),
                ("dynamodb:PartiQLInsert", TABLE),
                (
                    "dynamodb:PartiQLUpdate",
                    "arn:aws:dynamodb:us-east-1:123456789012:table/fv-audit"
                ),
                ("dynamodb:PartiQLDelete", TABLE),
            ]
        );

        let r = ddb_ok(
            "ExecuteTransaction",
            json!({"TransactStatements": [{"Statement": "EXISTS(SELECT 1)"}]}),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].action.as_str(), r[0].resource.as_str()),
            ("dynamodb:ExecuteTransaction", "*")
        );
        assert!(matches!(
            ddb("ExecuteStatement", json!({})),
            Err(ExtractError::InvalidField(_))
        ));
    }

    #[test]
    fn bad_targets_and_bodies() {
        let n = names();
        for target in [
            "GetItem",
            "DynamoDB_20120810.",
            "TrentService.GetItem",
            "DynamoDB_20120810.Get Item",
            "",
        ] {
            assert!(
                matches!(
                    dynamodb_requests(target, b"{}", &n, &pk_of),
                    Err(ExtractError::UnknownTarget(_))
                ),
                "{target}"
            );
        }
        for body in [&b"{"[..], b"[]", b"\"x\"", b"\xff"] {
            assert!(matches!(
                dynamodb_requests("DynamoDB_20120810.GetItem", body, &n, &pk_of),
                Err(ExtractError::InvalidJson(_))
            ));
        }
        assert!(matches!(
            ddb("GetItem", json!({"TableName": 3})),
            Err(ExtractError::InvalidField(_))
        ));
        assert!(matches!(
            ddb("Query", json!({"TableName": "fv-data", "IndexName": 1})),
            Err(ExtractError::InvalidField(_))
        ));
    }

    // --- KMS ------------------------------------------------------------------------

    fn kms(op: &str, body: Value) -> Result<Vec<AuthzRequest>, ExtractError> {
        kms_requests(
            &format!("TrentService.{op}"),
            body.to_string().as_bytes(),
            &names(),
        )
    }

    const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn kms_encrypt_resource_and_context() {
        let r = kms(
            "Encrypt",
            json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "Plaintext": "AA==",
            "EncryptionContext": {"tenant_id": "a", "purpose": "field"},
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
        )
        .unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].action, "kms:Encrypt");
        assert_eq!(r[0].resource, KEY);
        let ctx = &r[0].context;
        assert_eq!(ctx["kms:EncryptionContext:tenant_id"], vec!["a"]);
        assert_eq!(ctx["kms:EncryptionContext:purpose"], vec!["field"]);
        let mut keys = ctx["kms:EncryptionContextKeys"].clone();
        keys.sort();
        assert_eq!(keys, vec!["purpose", "tenant_id"]);
        assert_eq!(ctx["kms:EncryptionAlgorithm"], vec!["SYMMETRIC_DEFAULT"]);

        let r = kms(
            "GenerateDataKey",
            json!({"KeyId": KEY, "KeySpec": "AES_256"}),
        )
        .unwrap();
        assert_eq!(r[0].resource, KEY);
        assert!(r[0].context.is_empty());

        let r = kms(
            "Encrypt",
            json!({"KeyId": "alias/fv-tenant", "Plaintext": "AA=="}),
        )
        .unwrap();
        assert_eq!(
            r[0].resource,
            "arn:aws:kms:us-east-1:123456789012:alias/fv-tenant"
        );
        assert_eq!(r[0].context["kms:RequestAlias"], vec!["alias/fv-tenant"]);
    }

    fn kms_policy() -> PolicyDocument {
        PolicyDocument::from_json(&json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "TenantCrypto", "Effect": "Allow",
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
             "Resource": "arn:aws:kms:us-east-1:123456789012:key/*",
             "Condition": {
                 "StringEquals": {"kms:EncryptionContext:tenant_id": "${aws:PrincipalTag/tenant_id}"},
                 "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenant_id", "purpose"]}}}
        ]})).unwrap()
    }

    #[test]
    fn kms_context_mismatch_is_denied() {
        let p = kms_policy();
        let a = tags("a", "admin");
        let dec = |ec: Value| {
            kms(
                "Decrypt",
                json!({"KeyId": KEY, "CiphertextBlob": "AAAA", "EncryptionContext": ec}),
            )
            .unwrap()
        };
        assert!(p
            .evaluate_all(&dec(json!({"tenant_id": "a"})), &a)
            .is_allowed());
        assert!(p
            .evaluate_all(&dec(json!({"tenant_id": "a", "purpose": "x"})), &a)
            .is_allowed());
        assert_eq!(
            p.evaluate_all(&dec(json!({"tenant_id": "b"})), &a),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate_all(&dec(json!({"tenant_id": "a", "extra": "1"})), &a),
            Decision::ImplicitDeny
        );
        assert_eq!(p.evaluate_all(&dec(json!({})), &a), Decision::ImplicitDeny);
        let no_ec = kms("Decrypt", json!({"KeyId": KEY, "CiphertextBlob": "AAAA"})).unwrap();
        assert_eq!(p.evaluate_all(&no_ec, &a), Decision::ImplicitDeny);
    }

    #[test]
    fn kms_decrypt_without_key_id() {
        let r = kms("Decrypt", json!({"CiphertextBlob": "AQIDBA=="})).unwrap();
        assert_eq!(r[0].resource, "arn:aws:kms:us-east-1:123456789012:key/*");
        // moto/LocalStack blobs start with the 36-byte key id.
        let mut blob = b"1234abcd-12ab-34cd-56ef-1234567890ab".to_vec();
        blob.extend_from_slice(&[0u8; 40]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&blob);
        let r = kms("Decrypt", json!({"CiphertextBlob": b64})).unwrap();
        assert_eq!(r[0].resource, KEY);
        // An explicit KeyId wins.
        let r = kms("Decrypt", json!({"CiphertextBlob": b64, "KeyId": "other"})).unwrap();
        assert_eq!(
            r[0].resource,
            "arn:aws:kms:us-east-1:123456789012:key/other"
        );
    }

    #[test]
    fn kms_reencrypt_and_aliases_and_keyless_operations() {
        let r = kms(
            "ReEncrypt",
            json!({"CiphertextBlob": "AAAA", "SourceKeyId": KEY,
            "SourceEncryptionContext": {"tenant_id": "a"}, "DestinationKeyId": "alias/new",
            "DestinationEncryptionContext": {"tenant_id": "b"}}),
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].action.as_str(), r[0].resource.as_str()),
            ("kms:ReEncryptFrom", KEY)
        );
        assert_eq!(r[0].context["kms:EncryptionContext:tenant_id"], vec!["a"]);
        assert_eq!(r[1].action, "kms:ReEncryptTo");
        assert_eq!(
            r[1].resource,
            "arn:aws:kms:us-east-1:123456789012:alias/new"
        );
        assert_eq!(r[1].context["kms:EncryptionContext:tenant_id"], vec!["b"]);
        assert!(matches!(
            kms("ReEncrypt", json!({"CiphertextBlob": "AAAA"})),
            Err(ExtractError::InvalidField(_))
        ));

        let r = kms(
            "CreateAlias",
            json!({"AliasName": "alias/x", "TargetKeyId": "k1"}),
        )
        .unwrap();
        let res: Vec<&str> = r.iter().map(|r| r.resource.as_str()).collect();
        assert_eq!(
            res,
            vec![
                "arn:aws:kms:us-east-1:123456789012:alias/x",
                "arn:aws:kms:us-east-1:123456789012:key/k1"
            ]
        );

        let r = kms("CreateKey", json!({})).unwrap();
        assert_eq!(
            (r[0].action.as_str(), r[0].resource.as_str()),
            ("kms:CreateKey", "*")
        );
        let r = kms_requests("TrentService.ListKeys", b"", &names()).unwrap();
        assert_eq!(r[0].resource, "*");
    }

    #[test]
    fn kms_errors() {
        assert!(matches!(
            kms_requests("DynamoDB_20120810.Encrypt", b"{}", &names()),
            Err(ExtractError::UnknownTarget(_))
        ));
        assert!(matches!(
            kms("Encrypt", json!({"KeyId": ""})),
            Err(ExtractError::InvalidField(_))
        ));
        assert!(matches!(
            kms("Encrypt", json!({"KeyId": 7})),
            Err(ExtractError::InvalidField(_))
        ));
        assert!(matches!(
            kms(
                "Encrypt",
                json!({"KeyId": "k", "EncryptionContext": {"n": 1}})
            ),
            Err(ExtractError::InvalidField(_))
        ));
        assert!(matches!(
            kms_requests("TrentService.Encrypt", b"not json", &names()),
            Err(ExtractError::InvalidJson(_))
        ));
    }

    // --- S3 ---------------------------------------------------------------------------

    fn s3(method: &str, path: &str, query: &str) -> AuthzRequest {
        let mut r = s3_requests(method, path, query, &names()).unwrap();
        assert_eq!(r.len(), 1);
        r.remove(0)
    }

    #[test]
    fn s3_object_operations() {
        let r = s3("GET", "/fv-files/T%23a%23/inv%201.pdf", "");
        assert_eq!(
            (r.action.as_str(), r.resource.as_str()),
            ("s3:GetObject", "arn:aws:s3:::fv-files/T#a#/inv 1.pdf")
        );
        assert_eq!(s3("HEAD", "/b/k", "").action, "s3:GetObject");
        assert_eq!(
            s3("get", "/b/k", "versionId=3").action,
            "s3:GetObjectVersion"
        );
        assert_eq!(
            s3("GET", "/b/k", "versionId=3").context["s3:versionid"],
            vec!["3"]
        );
        assert_eq!(s3("PUT", "/b/a/b/c", "").action, "s3:PutObject");
        assert_eq!(s3("PUT", "/b/a/b/c", "").resource, "arn:aws:s3:::b/a/b/c");
        assert_eq!(
            s3("PUT", "/b/k", "partNumber=1&uploadId=x").action,
            "s3:PutObject"
        );
        assert_eq!(s3("DELETE", "/b/k", "").action, "s3:DeleteObject");
        assert_eq!(
            s3("DELETE", "/b/k", "versionId=1").action,
            "s3:DeleteObjectVersion"
        );
        assert_eq!(
            s3("DELETE", "/b/k", "uploadId=1").action,
            "s3:AbortMultipartUpload"
        );
        assert_eq!(s3("POST", "/b/k", "uploads").action, "s3:PutObject");
        assert_eq!(s3("GET", "/b/k", "tagging").action, "s3:GetObjectTagging");
        assert_eq!(s3("PUT", "/b/k", "acl").action, "s3:PutObjectAcl");
        assert_eq!(
            s3("GET", "/b/k", "uploadId=1").action,
            "s3:ListMultipartUploadParts"
        );
        assert_eq!(
            s3("GET", "/b/k", "response-content-type=text%2Fplain").action,
            "s3:GetObject"
        );
        // Encoded slash in the key stays part of the key.
        assert_eq!(s3("GET", "/b/a%2Fb", "").resource, "arn:aws:s3:::b/a/b");
    }

    #[test]
    fn s3_bucket_operations() {
        let r = s3(
            "GET",
            "/fv-files",
            "list-type=2&prefix=T%23a%23%2Fdocs%2F&delimiter=%2F&max-keys=10",
        );
        assert_eq!(
            (r.action.as_str(), r.resource.as_str()),
            ("s3:ListBucket", "arn:aws:s3:::fv-files")
        );
        assert_eq!(r.context["s3:prefix"], vec!["T#a#/docs/"]);
        assert_eq!(r.context["s3:delimiter"], vec!["/"]);
        assert_eq!(r.context["s3:max-keys"], vec!["10"]);
        let r = s3("GET", "/fv-files/", "");
        assert_eq!(r.action, "s3:ListBucket");
        assert!(r.context.is_empty());
        assert_eq!(
            s3("GET", "/b", "prefix=a+b").context["s3:prefix"],
            vec!["a b"]
        );
        assert_eq!(s3("HEAD", "/b", "").action, "s3:ListBucket");
        assert_eq!(
            s3("GET", "/b", "versions&prefix=x").action,
            "s3:ListBucketVersions"
        );
        assert_eq!(s3("GET", "/b", "location").action, "s3:GetBucketLocation");
        assert_eq!(s3("PUT", "/b", "").action, "s3:CreateBucket");
        assert_eq!(s3("PUT", "/b", "policy").action, "s3:PutBucketPolicy");
        assert_eq!(s3("DELETE", "/b", "").action, "s3:DeleteBucket");
        assert_eq!(s3("DELETE", "/b", "tagging").action, "s3:PutBucketTagging");
        let r = s3("POST", "/b", "delete");
        assert_eq!(
            (r.action.as_str(), r.resource.as_str()),
            ("s3:DeleteObject", "arn:aws:s3:::b/*")
        );
        let r = s3("GET", "/", "");
        assert_eq!(
            (r.action.as_str(), r.resource.as_str()),
            ("s3:ListAllMyBuckets", "*")
        );
    }

    #[test]
    fn s3_errors() {
        let n = names();
        assert!(matches!(
            s3_requests("GET", "/b/%zz", "", &n),
            Err(ExtractError::InvalidEncoding(_))
        ));
        assert!(matches!(
            s3_requests("GET", "/b/%ff", "", &n),
            Err(ExtractError::InvalidEncoding(_))
        ));
        assert!(matches!(
            s3_requests("GET", "/b", "prefix=%4", &n),
            Err(ExtractError::InvalidEncoding(_))
        ));
        assert!(matches!(
            s3_requests("PATCH", "/b/k", "", &n),
            Err(ExtractError::UnsupportedS3Request(_))
        ));
        assert!(matches!(
            s3_requests("POST", "/b/k", "", &n),
            Err(ExtractError::UnsupportedS3Request(_))
        ));
        assert!(matches!(
            s3_requests("PUT", "/", "", &n),
            Err(ExtractError::UnsupportedS3Request(_))
        ));
    }

    #[test]
    fn s3_tenant_prefix_policy() {
        let p = PolicyDocument::from_json(&json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "ListOwnPrefix", "Effect": "Allow", "Action": "s3:ListBucket",
             "Resource": "arn:aws:s3:::fv-files",
             "Condition": {"StringLike": {"s3:prefix": ["tenants/${aws:PrincipalTag/tenant_id}/*"]}}},
            {"Sid": "OwnObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
             "Resource": "arn:aws:s3:::fv-files/tenants/${aws:PrincipalTag/tenant_id}/*"}
        ]})).unwrap();
        let a = tags("a", "admin");
        let check = |method: &str, path: &str, query: &str| {
            p.evaluate_all(&s3_requests(method, path, query, &names()).unwrap(), &a)
        };
        assert_eq!(
            check(
                "GET",
                "/fv-files",
                "list-type=2&prefix=tenants%2Fa%2Fjobs%2F"
            ),
            Decision::Allow {
                sid: Some("ListOwnPrefix".into())
            }
        );
        assert_eq!(
            check("GET", "/fv-files", "list-type=2&prefix=tenants%2Fb%2F"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            check("GET", "/fv-files", "list-type=2"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            check("GET", "/fv-files/tenants/a/jobs/1/photo.jpg", ""),
            Decision::Allow {
                sid: Some("OwnObjects".into())
            }
        );
        assert_eq!(
            check("PUT", "/fv-files/tenants/b/x", ""),
            Decision::ImplicitDeny
        );
        assert_eq!(
            check("DELETE", "/fv-files/tenants/a/x", ""),
            Decision::ImplicitDeny
        );
        // Percent-encoding cannot be used to escape the tenant prefix check.
        assert_eq!(
            check("GET", "/fv-files/tenants%2Fb%2Fx", ""),
            Decision::ImplicitDeny
        );
        assert!(p
            .evaluate_all(
                &s3_requests("GET", "/fv-files/tenants/a/x", "", &names()).unwrap(),
                &BTreeMap::new()
            )
            .eq(&Decision::ImplicitDeny));
    }
}
