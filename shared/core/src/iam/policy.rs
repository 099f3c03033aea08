//! Evaluator for IAM *identity* policy documents.
//!
//! DynamoDB Local and moto accept every request, so without this module a tenant
//! session that would be denied in AWS silently succeeds locally and the bug only
//! shows up after deploy. The local policy guard parses the role's real policy
//! document once ([`PolicyDocument::from_json`]) and asks [`PolicyDocument::evaluate`]
//! for every authorization request extracted from an outgoing SDK call.
//!
//! The aim is to decide exactly what IAM decides for an identity policy. Where IAM's
//! behaviour is ambiguous or out of scope we fail closed: an unknown operator or a
//! malformed statement is a parse error (a typo in a `Deny` must never turn into
//! "statement ignored"), and anything we cannot resolve at evaluation time matches
//! nothing.
//!
//! Semantics implemented:
//! * explicit `Deny` beats any `Allow`; no matching `Allow` is an implicit deny;
//! * `Action`/`NotAction` with `*`/`?` wildcards, compared case-insensitively;
//! * `Resource`/`NotResource` with wildcards, compared case-sensitively and segment by
//!   segment for ARNs (a wildcard never crosses one of the first five `:` separators,
//!   the resource segment may contain `:`);
//! * `Condition`: AND across operators and keys, OR across one key's values (NOR for
//!   negated operators), `ForAllValues:`/`ForAnyValue:` set qualifiers and `IfExists`;
//! * policy variables `${key}` (with `${key, 'default'}` and the `${*}`, `${?}`, `${$}`
//!   escapes) in `Resource` and condition values, only for `"Version": "2012-10-17"`
//!   as in IAM (older versions treat `${...}` literally). A variable resolves from the
//!   principal tags (`aws:PrincipalTag/<name>`) or any *single-valued* key of the request
//!   context; an unresolvable variable makes that value match nothing. Substituted text
//!   is always literal, so a tag value containing `*` cannot widen a pattern.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Why a policy document was rejected. Rejecting (instead of skipping) keeps a broken
/// policy from silently widening or narrowing access in local runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The document is not a JSON object.
    #[error("policy document must be a JSON object")]
    NotAnObject,
    /// `Version` is present but not a version IAM knows.
    #[error("unsupported policy Version {0:?} (expected \"2012-10-17\" or \"2008-10-17\")")]
    UnsupportedVersion(String),
    /// A top-level element other than `Version`, `Id` and `Statement` (likely a typo).
    #[error("unknown top-level policy element {0:?}")]
    UnknownElement(String),
    /// The document has no `Statement` element, or it is not an object/array.
    #[error("policy document has no valid Statement element")]
    MissingStatement,
    /// A statement is structurally invalid.
    #[error("statement #{index} (Sid {sid:?}): {reason}")]
    InvalidStatement {
        /// Zero-based position of the statement in the document.
        index: usize,
        /// The statement's `Sid`, if any.
        sid: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// A condition operator this evaluator does not implement (or IAM does not know).
    #[error(
        "statement #{index} (Sid {sid:?}): unknown or unsupported condition operator {operator:?}"
    )]
    UnknownOperator {
        /// Zero-based position of the statement in the document.
        index: usize,
        /// The statement's `Sid`, if any.
        sid: Option<String>,
        /// The operator as written in the policy.
        operator: String,
    },
}

/// One authorization request as IAM sees it: a single action on a single resource plus
/// the condition keys the service puts into the request context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzRequest {
    /// `service:Operation`, e.g. `dynamodb:GetItem`, `kms:Decrypt`, `s3:GetObject`.
    pub action: String,
    /// The resource ARN (or `*` for actions that have no resource).
    pub resource: String,
    /// Condition keys present in the request. Multi-valued keys (for example
    /// `dynamodb:LeadingKeys`) carry several values; an empty vector counts as absent.
    pub context: BTreeMap<String, Vec<String>>,
}

/// The outcome of evaluating one request, with the `Sid` that decided it so denials can
/// be explained in test failures and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` statement matched and no `Deny` did (`sid` of the first matching `Allow`).
    Allow {
        /// `Sid` of the deciding statement.
        sid: Option<String>,
    },
    /// A `Deny` statement matched (`sid` of the first matching `Deny`).
    ExplicitDeny {
        /// `Sid` of the deciding statement.
        sid: Option<String>,
    },
    /// Nothing matched: IAM's default deny.
    ImplicitDeny,
}

impl Decision {
    /// True only for [`Decision::Allow`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// A parsed, validated IAM policy document: an identity policy, or a role's trust policy
/// ([`PolicyDocument::trust_from_json`]), whose statements name principals.
#[derive(Debug, Clone)]
pub struct PolicyDocument {
    statements: Vec<Statement>,
}

impl PolicyDocument {
    /// Parse an IAM policy document (`{"Version": "2012-10-17", "Statement": [..] or {..}}`).
    ///
    /// Values in `Action`/`Resource`/`Condition` must be plain strings (callers resolve
    /// CloudFormation intrinsics first); booleans and numbers are accepted in condition
    /// values as IAM does. `Principal`/`NotPrincipal` are rejected because they are not
    /// valid in identity policies. A missing `Version` means IAM's default `2008-10-17`,
    /// in which policy variables are plain text.
    pub fn from_json(doc: &Value) -> Result<Self, PolicyError> {
        Self::parse(doc, Kind::Identity)
    }

    /// Parse a role's trust policy (`AssumeRolePolicyDocument`): every statement names its
    /// `Principal` (`"*"`, or `{"AWS": ..}`, `{"Service": ..}`, `{"Federated": ..}`) and has no
    /// `Resource` (the role is the resource). `NotPrincipal` is rejected (fail closed). A
    /// statement applies only to a request whose `aws:PrincipalArn` it names: an ARN names
    /// exactly itself, `arn:<partition>:iam::<account>:root` (or the bare account id) every
    /// principal of that account, `"*"` everyone; service and federated principals never
    /// match an AWS principal.
    pub fn trust_from_json(doc: &Value) -> Result<Self, PolicyError> {
        Self::parse(doc, Kind::Trust)
    }

    fn parse(doc: &Value, kind: Kind) -> Result<Self, PolicyError> {
        let obj = doc.as_object().ok_or(PolicyError::NotAnObject)?;
        let variables = match obj.get("Version") {
            None => false,
            Some(Value::String(v)) if v == "2012-10-17" => true,
            Some(Value::String(v)) if v == "2008-10-17" => false,
            Some(other) => {
                return Err(PolicyError::UnsupportedVersion(match other {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                }))
            }
        };
        for key in obj.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(PolicyError::UnknownElement(key.clone()));
            }
        }
        let raw: Vec<&Value> = match obj.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(v @ Value::Object(_)) => vec![v],
            _ => return Err(PolicyError::MissingStatement),
        };
        let statements = raw
            .into_iter()
            .enumerate()
            .map(|(index, v)| Statement::parse(index, v, variables, kind))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { statements })
    }

    /// Decide one request the way IAM does for a session carrying `principal_tags`.
    ///
    /// Principal tags become the condition keys `aws:PrincipalTag/<name>` (overriding a
    /// key of the same name in `request.context`) and the values of the matching
    /// `${aws:PrincipalTag/<name>}` variables.
    pub fn evaluate(
        &self,
        request: &AuthzRequest,
        principal_tags: &BTreeMap<String, String>,
    ) -> Decision {
        let ctx = Ctx::new(request, principal_tags);
        let action: Vec<char> = request.action.chars().collect();
        let resource = ResourceText::new(&request.resource);
        let mut allow: Option<&Statement> = None;
        for st in &self.statements {
            if !st.applies(&action, &resource, &ctx) {
                continue;
            }
            match st.effect {
                Effect::Deny => {
                    return Decision::ExplicitDeny {
                        sid: st.sid.clone(),
                    }
                }
                Effect::Allow => {
                    if allow.is_none() {
                        allow = Some(st);
                    }
                }
            }
        }
        match allow {
            Some(st) => Decision::Allow {
                sid: st.sid.clone(),
            },
            None => Decision::ImplicitDeny,
        }
    }

    /// Decide a whole API call that IAM authorizes as several requests (a transaction,
    /// a batch): every request must be allowed. Returns the first explicit deny, else
    /// the first implicit deny, else the first allow. An empty slice is an implicit
    /// deny, so a caller that extracted nothing never gets a free pass.
    pub fn evaluate_all(
        &self,
        requests: &[AuthzRequest],
        principal_tags: &BTreeMap<String, String>,
    ) -> Decision {
        let mut first_allow = None;
        let mut first_implicit = None;
        for request in requests {
            match self.evaluate(request, principal_tags) {
                deny @ Decision::ExplicitDeny { .. } => return deny,
                Decision::ImplicitDeny => {
                    first_implicit.get_or_insert(Decision::ImplicitDeny);
                }
                allow @ Decision::Allow { .. } => {
                    first_allow.get_or_insert(allow);
                }
            }
        }
        first_implicit
            .or(first_allow)
            .unwrap_or(Decision::ImplicitDeny)
    }
}

// ---------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------

/// What a document is: the statements it may hold differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Identity,
    Trust,
}

/// Who a trust policy statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Principal {
    Anyone,
    /// An account's root: every principal of the account.
    Account(String),
    Arn(String),
    /// A service or federated principal: never an AWS principal ARN.
    Other,
}

impl Principal {
    fn parse(v: &Value) -> Result<Vec<Principal>, String> {
        if v == "*" {
            return Ok(vec![Principal::Anyone]);
        }
        let obj = v
            .as_object()
            .ok_or("Principal must be \"*\" or an object")?;
        let mut out = Vec::new();
        for (kind, names) in obj {
            for name in string_list(names).map_err(|e| format!("Principal {kind}: {e}"))? {
                out.push(match kind.as_str() {
                    "AWS" if name == "*" => Principal::Anyone,
                    "AWS" => Principal::aws(&name)?,
                    "Service" | "Federated" | "CanonicalUser" => Principal::Other,
                    other => return Err(format!("unknown principal type {other:?}")),
                });
            }
        }
        Ok(out)
    }

    fn aws(name: &str) -> Result<Principal, String> {
        if name.len() == 12 && name.chars().all(|c| c.is_ascii_digit()) {
            return Ok(Principal::Account(name.to_owned()));
        }
        let parts: Vec<&str> = name.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", _, "iam", "", account, "root"] => Ok(Principal::Account((*account).to_owned())),
            ["arn", _, _, _, _, _] if !name.contains('*') => Ok(Principal::Arn(name.to_owned())),
            _ => Err(format!(
                "AWS principal {name:?} is not an account or an ARN"
            )),
        }
    }

    fn names(&self, principal_arn: &str) -> bool {
        match self {
            Principal::Anyone => true,
            Principal::Arn(arn) => arn == principal_arn,
            Principal::Account(account) => {
                principal_arn.split(':').nth(4) == Some(account.as_str())
            }
            Principal::Other => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
struct Statement {
    sid: Option<String>,
    effect: Effect,
    /// `true` for `NotAction`.
    not_action: bool,
    actions: Vec<Vec<Tok>>,
    /// `true` for `NotResource`.
    not_resource: bool,
    resources: Vec<ArnPattern>,
    conditions: Vec<Condition>,
    /// Trust policies: who the statement names (`None` in identity policies).
    principals: Option<Vec<Principal>>,
}

impl Statement {
    fn parse(index: usize, v: &Value, variables: bool, kind: Kind) -> Result<Self, PolicyError> {
        let sid = v.get("Sid").and_then(Value::as_str).map(str::to_owned);
        let invalid = |reason: String| PolicyError::InvalidStatement {
            index,
            sid: sid.clone(),
            reason,
        };
        let obj = v
            .as_object()
            .ok_or_else(|| invalid("statement must be a JSON object".into()))?;
        for key in obj.keys() {
            match key.as_str() {
                "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource"
                | "Condition" => {}
                "Principal" if kind == Kind::Trust => {}
                "Principal" | "NotPrincipal" => {
                    return Err(invalid(format!(
                        "{key} is not allowed in {}",
                        match kind {
                            Kind::Identity => "an identity policy",
                            Kind::Trust => "a trust policy evaluated here",
                        }
                    )))
                }
                _ => return Err(invalid(format!("unknown statement element {key:?}"))),
            }
        }
        if let Some(s) = obj.get("Sid") {
            if !s.is_string() {
                return Err(invalid("Sid must be a string".into()));
            }
        }
        let effect = match obj.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            Some(other) => {
                return Err(invalid(format!(
                    "Effect must be Allow or Deny, got {other:?}"
                )))
            }
            None => return Err(invalid("missing Effect".into())),
        };

        let (not_action, raw_actions) =
            exactly_one(obj, "Action", "NotAction").map_err(&invalid)?;
        let actions = string_list(raw_actions)
            .map_err(|e| {
                invalid(format!(
                    "{}: {e}",
                    if not_action { "NotAction" } else { "Action" }
                ))
            })?
            .into_iter()
            .map(|a| parse_action(&a).map_err(&invalid))
            .collect::<Result<Vec<_>, _>>()?;

        let principals =
            match kind {
                Kind::Identity => None,
                Kind::Trust => Some(
                    Principal::parse(obj.get("Principal").ok_or_else(|| {
                        invalid("a trust policy statement needs a Principal".into())
                    })?)
                    .map_err(&invalid)?,
                ),
            };
        // A trust policy's resource is the role itself: no Resource element.
        let any = Value::String("*".into());
        let (not_resource, raw_resources) = match kind {
            Kind::Trust if obj.contains_key("Resource") || obj.contains_key("NotResource") => {
                return Err(invalid("a trust policy statement has no Resource".into()))
            }
            Kind::Trust => (false, &any),
            Kind::Identity => exactly_one(obj, "Resource", "NotResource").map_err(&invalid)?,
        };
        let resources = string_list(raw_resources)
            .map_err(|e| {
                invalid(format!(
                    "{}: {e}",
                    if not_resource {
                        "NotResource"
                    } else {
                        "Resource"
                    }
                ))
            })?
            .into_iter()
            .map(|r| ArnPattern::parse(&r, variables).map_err(&invalid))
            .collect::<Result<Vec<_>, _>>()?;

        let conditions = match obj.get("Condition") {
            None => Vec::new(),
            Some(Value::Object(block)) => {
                parse_conditions(block, variables).map_err(|e| match e {
                    CondParseError::UnknownOperator(operator) => PolicyError::UnknownOperator {
                        index,
                        sid: sid.clone(),
                        operator,
                    },
                    CondParseError::Invalid(reason) => invalid(reason),
                })?
            }
            Some(_) => return Err(invalid("Condition must be a JSON object".into())),
        };

        Ok(Self {
            sid,
            effect,
            not_action,
            actions,
            not_resource,
            resources,
            conditions,
            principals,
        })
    }

    fn applies(&self, action: &[char], resource: &ResourceText, ctx: &Ctx) -> bool {
        if let Some(principals) = &self.principals {
            let Some(arn) = ctx.single("aws:principalarn") else {
                return false;
            };
            if !principals.iter().any(|p| p.names(arn)) {
                return false;
            }
        }
        let action_hit = self.actions.iter().any(|p| glob(p, action, true));
        if action_hit == self.not_action {
            return false;
        }
        let resource_hit = self.resources.iter().any(|p| p.matches(resource, ctx));
        if resource_hit == self.not_resource {
            return false;
        }
        self.conditions.iter().all(|c| c.holds(ctx))
    }
}

/// Exactly one of `positive`/`negative` must be present; returns (is_negative, value).
fn exactly_one<'a>(
    obj: &'a Map<String, Value>,
    positive: &str,
    negative: &str,
) -> Result<(bool, &'a Value), String> {
    match (obj.get(positive), obj.get(negative)) {
        (Some(v), None) => Ok((false, v)),
        (None, Some(v)) => Ok((true, v)),
        (Some(_), Some(_)) => Err(format!("both {positive} and {negative} are present")),
        (None, None) => Err(format!("missing {positive} (or {negative})")),
    }
}

/// A string or a non-empty array of strings.
fn string_list(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("expected a string, got {i}"))
            })
            .collect(),
        Value::Array(_) => Err("empty list".into()),
        other => Err(format!("expected a string or list of strings, got {other}")),
    }
}

fn parse_action(a: &str) -> Result<Vec<Tok>, String> {
    let valid = a == "*"
        || a.split_once(':')
            .is_some_and(|(svc, op)| !svc.is_empty() && !op.is_empty());
    if !valid {
        return Err(format!("action {a:?} is not \"*\" or \"service:action\""));
    }
    Ok(a.chars()
        .map(|c| match c {
            '*' => Tok::Star,
            '?' => Tok::Quest,
            c => Tok::Ch(c),
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Templates (values that may contain wildcards and policy variables)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(char),
    Star,
    Quest,
    /// `${key}` or `${key, 'default'}`; `key` is lower-cased (keys are case-insensitive).
    Var {
        key: String,
        default: Option<String>,
    },
}

impl Seg {
    /// The token a segment is, unless it is a variable (resolved against the request).
    fn tok(&self) -> Option<Tok> {
        match self {
            Seg::Lit(c) => Some(Tok::Ch(*c)),
            Seg::Star => Some(Tok::Star),
            Seg::Quest => Some(Tok::Quest),
            Seg::Var { .. } => None,
        }
    }
}

/// A policy string split into literal characters, wildcards and variables at parse time,
/// so that evaluation never re-parses and substituted text can be kept literal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template {
    segs: Vec<Seg>,
    /// The tokens, when no variable needs substituting (most templates): resolved once.
    fixed: Option<Vec<Tok>>,
}

/// A resolved template: what the matcher consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Ch(char),
    Star,
    Quest,
}

impl Template {
    fn parse(s: &str, variables: bool) -> Result<Self, String> {
        let chars: Vec<char> = s.chars().collect();
        let mut segs = Vec::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if variables && c == '$' && chars.get(i + 1) == Some(&'{') {
                let start = i + 2;
                let mut j = start;
                let mut in_quote = false;
                while j < chars.len() && (in_quote || chars[j] != '}') {
                    if chars[j] == '\'' {
                        in_quote = !in_quote;
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(format!("unterminated policy variable in {s:?}"));
                }
                let body: String = chars[start..j].iter().collect();
                segs.push(parse_variable(&body).map_err(|e| format!("{e} in {s:?}"))?);
                i = j + 1;
                continue;
            }
            segs.push(match c {
                '*' => Seg::Star,
                '?' => Seg::Quest,
                c => Seg::Lit(c),
            });
            i += 1;
        }
        Ok(Self::of(segs))
    }

    fn of(segs: Vec<Seg>) -> Self {
        let fixed = segs.iter().map(Seg::tok).collect();
        Self { segs, fixed }
    }

    /// Substitute variables. `None` if a variable has no value and no default: IAM then
    /// treats the value as matching nothing.
    fn resolve(&self, ctx: &Ctx) -> Option<Cow<'_, [Tok]>> {
        if let Some(fixed) = &self.fixed {
            return Some(Cow::Borrowed(fixed));
        }
        let mut out = Vec::with_capacity(self.segs.len());
        for seg in &self.segs {
            match seg {
                Seg::Var { key, default } => {
                    let value = ctx.single(key).or(default.as_deref())?;
                    out.extend(value.chars().map(Tok::Ch));
                }
                other => out.extend(other.tok()),
            }
        }
        Some(Cow::Owned(out))
    }
}

fn parse_variable(body: &str) -> Result<Seg, String> {
    match body.trim() {
        "*" => return Ok(Seg::Lit('*')),
        "?" => return Ok(Seg::Lit('?')),
        "$" => return Ok(Seg::Lit('$')),
        _ => {}
    }
    let (key, default) = match body.split_once(',') {
        None => (body.trim(), None),
        Some((key, rest)) => {
            let rest = rest.trim();
            let inner = rest
                .strip_prefix('\'')
                .and_then(|r| r.strip_suffix('\''))
                .ok_or_else(|| format!("default value of ${{{body}}} must be single-quoted"))?;
            // Inside the quotes a literal quote is written as two quotes.
            let mut unescaped = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\'' && chars.next() != Some('\'') {
                    return Err(format!("unescaped quote in default value of ${{{body}}}"));
                }
                unescaped.push(c);
            }
            (key.trim(), Some(unescaped))
        }
    };
    if key.is_empty() || key.chars().any(char::is_whitespace) {
        return Err(format!("invalid policy variable ${{{body}}}"));
    }
    Ok(Seg::Var {
        key: key.to_lowercase(),
        default,
    })
}

/// A `Resource`/`NotResource` entry, pre-split into ARN segments so wildcards stay
/// within their segment like IAM's matcher.
#[derive(Debug, Clone)]
struct ArnPattern {
    segments: Vec<Template>,
}

impl ArnPattern {
    fn parse(s: &str, variables: bool) -> Result<Self, String> {
        if s != "*" && !s.starts_with("arn:") {
            return Err(format!("resource {s:?} is not \"*\" or an ARN"));
        }
        let template = Template::parse(s, variables)?;
        // Split on literal ':' only (variable names contain ':' too), at most 6 parts:
        // arn:partition:service:region:account:resource (the last may contain ':').
        let mut segments = vec![Vec::new()];
        for seg in template.segs {
            if seg == Seg::Lit(':') && segments.len() < 6 {
                segments.push(Vec::new());
            } else if let Some(last) = segments.last_mut() {
                last.push(seg);
            }
        }
        Ok(Self {
            segments: segments.into_iter().map(Template::of).collect(),
        })
    }

    fn matches(&self, resource: &ResourceText, ctx: &Ctx) -> bool {
        let split;
        let parts = match self.segments.len() {
            ARN_PARTS => &resource.arn_parts,
            n => {
                split = ResourceText::split(resource.text, n);
                &split
            }
        };
        if parts.len() != self.segments.len() {
            return false;
        }
        self.segments.iter().zip(parts).all(|(pattern, text)| {
            pattern
                .resolve(ctx)
                .is_some_and(|toks| glob(&toks, text, false))
        })
    }
}

/// An ARN has six parts (`arn:partition:service:region:account:resource`).
const ARN_PARTS: usize = 6;

/// A request's resource, split as ARN patterns read it, once per evaluation (every statement
/// matches against the same parts).
struct ResourceText<'a> {
    text: &'a str,
    arn_parts: Vec<Vec<char>>,
}

impl<'a> ResourceText<'a> {
    fn new(text: &'a str) -> Self {
        ResourceText {
            text,
            arn_parts: Self::split(text, ARN_PARTS),
        }
    }

    /// At most `n` parts: the last keeps its colons.
    fn split(text: &str, n: usize) -> Vec<Vec<char>> {
        text.splitn(n, ':').map(|p| p.chars().collect()).collect()
    }
}

/// `*` matches any run of characters (including `#`, `/` and `:` within a segment), `?`
/// exactly one character. Iterative with single-star backtracking: linear memory.
fn glob(pattern: &[Tok], text: &[char], ignore_case: bool) -> bool {
    let eq = |a: char, b: char| a == b || (ignore_case && a.to_lowercase().eq(b.to_lowercase()));
    let (mut p, mut t) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Tok::Star) => {
                backtrack = Some((p, t));
                p += 1;
                continue;
            }
            Some(Tok::Quest) => {
                p += 1;
                t += 1;
                continue;
            }
            Some(Tok::Ch(c)) if eq(*c, text[t]) => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match backtrack {
            Some((sp, st)) => {
                backtrack = Some((sp, st + 1));
                p = sp + 1;
                t = st + 1;
            }
            None => return false,
        }
    }
    pattern[p.min(pattern.len())..]
        .iter()
        .all(|tok| *tok == Tok::Star)
}

/// Literal comparison: wildcards in the template are ordinary characters.
fn literal(toks: &[Tok]) -> Vec<Tok> {
    toks.iter()
        .map(|t| match t {
            Tok::Star => Tok::Ch('*'),
            Tok::Quest => Tok::Ch('?'),
            ch => *ch,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    Bool,
    Null,
}

impl Operator {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "StringEquals" => Self::StringEquals,
            "StringNotEquals" => Self::StringNotEquals,
            "StringEqualsIgnoreCase" => Self::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Self::StringNotEqualsIgnoreCase,
            "StringLike" => Self::StringLike,
            "StringNotLike" => Self::StringNotLike,
            "Bool" => Self::Bool,
            "Null" => Self::Null,
            _ => return None,
        })
    }

    /// Negated operators are evaluated as NOR over the policy values.
    fn negated(self) -> bool {
        matches!(
            self,
            Self::StringNotEquals | Self::StringNotEqualsIgnoreCase | Self::StringNotLike
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    Single,
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone)]
enum CondValues {
    Strings(Vec<Template>),
    /// `Bool` and `Null` values, parsed up front so a typo is a parse error.
    Bools(Vec<bool>),
}

#[derive(Debug, Clone)]
struct Condition {
    operator: Operator,
    qualifier: SetQualifier,
    if_exists: bool,
    /// Lower-cased: condition key names are case-insensitive in IAM.
    key: String,
    values: CondValues,
}

enum CondParseError {
    UnknownOperator(String),
    Invalid(String),
}

fn parse_operator(name: &str) -> Option<(Operator, SetQualifier, bool)> {
    let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAllValues:") {
        (SetQualifier::ForAllValues, rest)
    } else if let Some(rest) = name.strip_prefix("ForAnyValue:") {
        (SetQualifier::ForAnyValue, rest)
    } else {
        (SetQualifier::Single, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let operator = Operator::from_name(base)?;
    // IAM has no NullIfExists and no set-qualified Null.
    if operator == Operator::Null && (if_exists || qualifier != SetQualifier::Single) {
        return None;
    }
    Some((operator, qualifier, if_exists))
}

fn parse_conditions(
    block: &Map<String, Value>,
    variables: bool,
) -> Result<Vec<Condition>, CondParseError> {
    let mut out = Vec::new();
    for (op_name, keys) in block {
        let (operator, qualifier, if_exists) = parse_operator(op_name)
            .ok_or_else(|| CondParseError::UnknownOperator(op_name.clone()))?;
        let keys = keys.as_object().ok_or_else(|| {
            CondParseError::Invalid(format!(
                "Condition operator {op_name} must map to an object"
            ))
        })?;
        for (key, raw) in keys {
            if key.is_empty() {
                return Err(CondParseError::Invalid(format!(
                    "empty condition key under {op_name}"
                )));
            }
            let raw_values = condition_values(raw)
                .map_err(|e| CondParseError::Invalid(format!("{op_name} {key}: {e}")))?;
            let values = match operator {
                Operator::Bool | Operator::Null => CondValues::Bools(
                    raw_values
                        .iter()
                        .map(|v| match v.to_ascii_lowercase().as_str() {
                            "true" => Ok(true),
                            "false" => Ok(false),
                            _ => Err(CondParseError::Invalid(format!(
                                "{op_name} {key}: expected \"true\" or \"false\", got {v:?}"
                            ))),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                _ => CondValues::Strings(
                    raw_values
                        .iter()
                        .map(|v| Template::parse(v, variables))
                        .collect::<Result<_, _>>()
                        .map_err(CondParseError::Invalid)?,
                ),
            };
            out.push(Condition {
                operator,
                qualifier,
                if_exists,
                key: key.to_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

fn condition_values(v: &Value) -> Result<Vec<String>, String> {
    fn scalar(v: &Value) -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(format!("unsupported condition value {other}")),
        }
    }
    match v {
        Value::Array(items) if items.is_empty() => Err("empty value list".into()),
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

impl Condition {
    fn holds(&self, ctx: &Ctx) -> bool {
        let present = ctx.get(&self.key);
        if let CondValues::Bools(wanted) = &self.values {
            if self.operator == Operator::Null {
                // Null: "true" means the key must be absent, "false" that it is present.
                return wanted
                    .iter()
                    .any(|&want_absent| want_absent == present.is_none());
            }
        }
        let Some(request_values) = present else {
            if self.if_exists {
                return true;
            }
            return match self.qualifier {
                // Vacuous truth: why policies pair it with a Null guard.
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => false,
                SetQualifier::Single => self.operator.negated(),
            };
        };
        // Does one request value satisfy the operator against the policy values?
        let one = |rv: &str| -> bool {
            let any = self.any_value_matches(rv, ctx);
            if self.operator.negated() {
                !any
            } else {
                any
            }
        };
        match self.qualifier {
            SetQualifier::ForAllValues => request_values.iter().all(|rv| one(rv)),
            SetQualifier::ForAnyValue => request_values.iter().any(|rv| one(rv)),
            SetQualifier::Single => {
                // A single-valued operator on a multi-valued key behaves like "any
                // request value matches" (negated: none matches).
                let any = request_values
                    .iter()
                    .any(|rv| self.any_value_matches(rv, ctx));
                if self.operator.negated() {
                    !any
                } else {
                    any
                }
            }
        }
    }

    /// Positive comparison of one request value against the policy's values (OR).
    fn any_value_matches(&self, request_value: &str, ctx: &Ctx) -> bool {
        match &self.values {
            CondValues::Bools(wanted) => wanted
                .iter()
                .any(|w| request_value.eq_ignore_ascii_case(if *w { "true" } else { "false" })),
            CondValues::Strings(templates) => {
                let text: Vec<char> = request_value.chars().collect();
                templates.iter().any(|t| {
                    let Some(toks) = t.resolve(ctx) else {
                        return false;
                    };
                    match self.operator {
                        Operator::StringLike | Operator::StringNotLike => glob(&toks, &text, false),
                        Operator::StringEqualsIgnoreCase | Operator::StringNotEqualsIgnoreCase => {
                            glob(&literal(&toks), &text, true)
                        }
                        _ => glob(&literal(&toks), &text, false),
                    }
                })
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Request context
// ---------------------------------------------------------------------------

/// The request context with lower-cased keys, principal tags merged in.
struct Ctx {
    keys: BTreeMap<String, Vec<String>>,
}

impl Ctx {
    fn new(request: &AuthzRequest, principal_tags: &BTreeMap<String, String>) -> Self {
        let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in &request.context {
            keys.entry(k.to_lowercase())
                .or_default()
                .extend(v.iter().cloned());
        }
        let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in principal_tags {
            // Tag keys differing only in case collide (STS forbids them); keeping both
            // values makes the key multi-valued, which no single-valued test or variable
            // accepts: fail closed.
            tags.entry(format!("aws:principaltag/{}", k.to_lowercase()))
                .or_default()
                .push(v.clone());
        }
        keys.extend(tags);
        Self { keys }
    }

    /// Values of a present, non-empty key.
    fn get(&self, key: &str) -> Option<&[String]> {
        self.keys
            .get(key)
            .map(Vec::as_slice)
            .filter(|v| !v.is_empty())
    }

    /// Value usable as a policy variable: the key must have exactly one value.
    fn single(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some([v]) => Some(v.as_str()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::testdata::{product_policy, tags};
    use serde_json::json;

    fn req(action: &str, resource: &str, ctx: &[(&str, &[&str])]) -> AuthzRequest {
        AuthzRequest {
            action: action.into(),
            resource: resource.into(),
            context: ctx
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        }
    }

    fn policy(v: Value) -> PolicyDocument {
        PolicyDocument::from_json(&v).unwrap()
    }

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/fv-data";

    fn get_item(keys: &[&str]) -> AuthzRequest {
        req("dynamodb:GetItem", TABLE, &[("dynamodb:LeadingKeys", keys)])
    }

    fn sid(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    // --- product policy -------------------------------------------------------

    #[test]
    fn tenant_a_allowed_on_own_items() {
        let p = product_policy();
        let t = tags("a", "admin");
        assert_eq!(
            p.evaluate(&get_item(&["T#a#CUST#01J0ABC"]), &t),
            Decision::Allow {
                sid: sid("TenantItems")
            }
        );
        for action in ["dynamodb:PutItem", "dynamodb:query", "DynamoDB:UpdateItem"] {
            let r = req(action, TABLE, &[("dynamodb:LeadingKeys", &["T#a#JOB#9"])]);
            assert!(p.evaluate(&r, &t).is_allowed(), "{action}");
        }
    }

    #[test]
    fn tenant_a_denied_on_tenant_b_items() {
        let p = product_policy();
        let t = tags("a", "admin");
        assert_eq!(
            p.evaluate(&get_item(&["T#b#CUST#1"]), &t),
            Decision::ImplicitDeny
        );
        // Prefix confusion: tenant "acme" must not reach tenant "acme1".
        let t = tags("acme", "admin");
        assert_eq!(
            p.evaluate(&get_item(&["T#acme1#CUST#01J"]), &t),
            Decision::ImplicitDeny
        );
        assert!(p.evaluate(&get_item(&["T#acme#CUST#01J"]), &t).is_allowed());
    }

    #[test]
    fn tenant_b_item_is_explicitly_denied_by_a_deny_statement() {
        let p = policy(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
            {"Sid": "OtherTenants", "Effect": "Deny", "Action": "dynamodb:*", "Resource": "*",
             "Condition": {"ForAnyValue:StringNotLike":
                {"dynamodb:LeadingKeys": "T#${aws:PrincipalTag/tenant_id}#*"}}}
        ]}));
        let t = tags("a", "admin");
        assert_eq!(
            p.evaluate(&get_item(&["T#b#CUST#1"]), &t),
            Decision::ExplicitDeny {
                sid: sid("OtherTenants")
            }
        );
        assert_eq!(
            p.evaluate(&get_item(&["T#a#CUST#1", "T#b#CUST#1"]), &t),
            Decision::ExplicitDeny {
                sid: sid("OtherTenants")
            }
        );
        assert!(p.evaluate(&get_item(&["T#a#CUST#1"]), &t).is_allowed());
    }

    #[test]
    fn mixed_leading_keys_are_denied() {
        let p = product_policy();
        let t = tags("a", "admin");
        let r = req(
            "dynamodb:BatchGetItem",
            TABLE,
            &[("dynamodb:LeadingKeys", &["T#a#CUST#1", "T#b#CUST#1"])],
        );
        assert_eq!(p.evaluate(&r, &t), Decision::ImplicitDeny);
    }

    #[test]
    fn null_guard_denies_requests_without_leading_keys() {
        let p = product_policy();
        let t = tags("a", "admin");
        assert_eq!(
            p.evaluate(&req("dynamodb:GetItem", TABLE, &[]), &t),
            Decision::ImplicitDeny
        );
        // Present but empty counts as absent.
        assert_eq!(p.evaluate(&get_item(&[]), &t), Decision::ImplicitDeny);
        // Without the Null guard, ForAllValues alone would allow it: that is the trap.
        let lax = policy(json!({"Version": "2012-10-17", "Statement": {
            "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE,
            "Condition": {"ForAllValues:StringLike":
                {"dynamodb:LeadingKeys": "T#${aws:PrincipalTag/tenant_id}#*"}}}}));
        assert!(lax
            .evaluate(&req("dynamodb:GetItem", TABLE, &[]), &t)
            .is_allowed());
    }

    #[test]
    fn technician_never_sees_billing() {
        let p = product_policy();
        let tech = tags("a", "technician");
        for key in ["T#a#INV#1", "T#a#PAY#7"] {
            assert_eq!(
                p.evaluate(&get_item(&[key]), &tech),
                Decision::ExplicitDeny {
                    sid: sid("TechniciansNeverBilling")
                },
                "{key}"
            );
        }
        assert_eq!(
            p.evaluate(&get_item(&["T#a#CUST#1", "T#a#INV#1"]), &tech),
            Decision::ExplicitDeny {
                sid: sid("TechniciansNeverBilling")
            }
        );
        assert!(p.evaluate(&get_item(&["T#a#CUST#1"]), &tech).is_allowed());
        // Other roles may read invoices.
        assert!(p
            .evaluate(&get_item(&["T#a#INV#1"]), &tags("a", "office"))
            .is_allowed());
        // The role check is case-sensitive (StringEquals).
        assert!(p
            .evaluate(&get_item(&["T#a#INV#1"]), &tags("a", "Technician"))
            .is_allowed());
    }

    #[test]
    fn table_wide_reads_denied() {
        let p = product_policy();
        let t = tags("a", "admin");
        for action in [
            "dynamodb:Scan",
            "dynamodb:ExecuteStatement",
            "dynamodb:PartiQLSelect",
            "dynamodb:BatchExecuteStatement",
            "dynamodb:ExecuteTransaction",
        ] {
            // Even with tenant leading keys a Scan is denied.
            let r = req(action, TABLE, &[("dynamodb:LeadingKeys", &["T#a#X"])]);
            assert_eq!(
                p.evaluate(&r, &t),
                Decision::ExplicitDeny {
                    sid: sid("NoTableWideReads")
                },
                "{action}"
            );
        }
    }

    #[test]
    fn index_resource_and_other_tables() {
        let p = product_policy();
        let t = tags("a", "admin");
        let idx = format!("{TABLE}/index/gsi1");
        let r = req(
            "dynamodb:Query",
            &idx,
            &[("dynamodb:LeadingKeys", &["T#a#BY_EMAIL#x"])],
        );
        assert!(p.evaluate(&r, &t).is_allowed());
        let other = "arn:aws:dynamodb:us-east-1:123456789012:table/fv-data2";
        let r = req(
            "dynamodb:GetItem",
            other,
            &[("dynamodb:LeadingKeys", &["T#a#X"])],
        );
        assert_eq!(p.evaluate(&r, &t), Decision::ImplicitDeny);
        // Actions outside the list are not allowed.
        let r = req(
            "dynamodb:DeleteTable",
            TABLE,
            &[("dynamodb:LeadingKeys", &["T#a#X"])],
        );
        assert_eq!(p.evaluate(&r, &t), Decision::ImplicitDeny);
    }

    #[test]
    fn missing_tenant_tag_matches_nothing() {
        let p = product_policy();
        let mut t = BTreeMap::new();
        t.insert("role".to_string(), "admin".to_string());
        assert_eq!(
            p.evaluate(&get_item(&["T#a#CUST#1"]), &t),
            Decision::ImplicitDeny
        );
        // A key that literally contains the unresolved variable text must not match either.
        assert_eq!(
            p.evaluate(&get_item(&["T#${aws:PrincipalTag/tenant_id}#CUST#1"]), &t),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn substituted_tag_values_are_literal() {
        let p = product_policy();
        assert_eq!(
            p.evaluate(&get_item(&["T#b#CUST#1"]), &tags("*", "admin")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate(&get_item(&["T#b#CUST#1"]), &tags("?", "admin")),
            Decision::ImplicitDeny
        );
        assert!(p
            .evaluate(&get_item(&["T#*#CUST#1"]), &tags("*", "admin"))
            .is_allowed());
    }

    #[test]
    fn principal_tag_keys_are_case_insensitive() {
        let p = product_policy();
        let mut t = BTreeMap::new();
        t.insert("Tenant_ID".to_string(), "a".to_string());
        assert!(p.evaluate(&get_item(&["T#a#CUST#1"]), &t).is_allowed());
    }

    // --- statements, actions, resources ---------------------------------------

    #[test]
    fn explicit_deny_wins_regardless_of_order() {
        let p = policy(json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "D", "Effect": "Deny", "Action": "s3:*", "Resource": "*"},
            {"Sid": "A", "Effect": "Allow", "Action": "*", "Resource": "*"}
        ]}));
        let none = BTreeMap::new();
        assert_eq!(
            p.evaluate(&req("s3:GetObject", "arn:aws:s3:::b/k", &[]), &none),
            Decision::ExplicitDeny { sid: sid("D") }
        );
        assert_eq!(
            p.evaluate(&req("kms:Decrypt", "*", &[]), &none),
            Decision::Allow { sid: sid("A") }
        );
    }

    #[test]
    fn not_action() {
        let p = policy(json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "AllButDeletes", "Effect": "Allow",
             "NotAction": ["dynamodb:Delete*", "dynamodb:BatchWriteItem"], "Resource": "*"},
            {"Sid": "NoNonS3", "Effect": "Deny", "NotAction": "s3:*",
             "Resource": "arn:aws:s3:::*"}
        ]}));
        let none = BTreeMap::new();
        assert!(p
            .evaluate(&req("dynamodb:GetItem", TABLE, &[]), &none)
            .is_allowed());
        assert_eq!(
            p.evaluate(&req("dynamodb:DeleteItem", TABLE, &[]), &none),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate(&req("DYNAMODB:deletetable", TABLE, &[]), &none),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate(&req("dynamodb:GetItem", "arn:aws:s3:::bucket", &[]), &none),
            Decision::ExplicitDeny {
                sid: sid("NoNonS3")
            }
        );
        assert!(p
            .evaluate(&req("s3:GetObject", "arn:aws:s3:::bucket/k", &[]), &none)
            .is_allowed());
    }

    #[test]
    fn not_resource() {
        let p = policy(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"}
        ]}));
        let none = BTreeMap::new();
        assert!(p
            .evaluate(&req("s3:GetObject", "arn:aws:s3:::public/a", &[]), &none)
            .is_allowed());
        assert!(!p
            .evaluate(&req("s3:GetObject", "arn:aws:s3:::secret/a", &[]), &none)
            .is_allowed());
    }

    #[test]
    fn action_wildcards_and_case() {
        let p = policy(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["kms:Generate*", "dynamodb:?etItem"], "Resource": "*"}
        ]}));
        let none = BTreeMap::new();
        for a in [
            "kms:GenerateDataKey",
            "KMS:generatedatakeywithoutplaintext",
            "dynamodb:GetItem",
            "dynamodb:SetItem",
        ] {
            assert!(p.evaluate(&req(a, "*", &[]), &none).is_allowed(), "{a}");
        }
        for a in [
            "kms:Decrypt",
            "dynamodb:PutItemX",
            "dynamodb:BatchGetItem",
            "kms:Generate",
        ] {
            let d = p.evaluate(&req(a, "*", &[]), &none);
            if a == "kms:Generate" {
                assert!(d.is_allowed(), "`*` matches the empty string");
            } else {
                assert_eq!(d, Decision::ImplicitDeny, "{a}");
            }
        }
    }

    #[test]
    fn resource_matching_is_case_sensitive_and_segment_aware() {
        let p = policy(json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "S", "Effect": "Allow", "Action": "*", "Resource": [
                "arn:aws:s3:::Bucket/*",
                "arn:aws:dynamodb:*:table/fv-data"
            ]}
        ]}));
        let none = BTreeMap::new();
        assert!(p
            .evaluate(
                &req("s3:GetObject", "arn:aws:s3:::Bucket/a/b#c", &[]),
                &none
            )
            .is_allowed());
        assert!(!p
            .evaluate(&req("s3:GetObject", "arn:aws:s3:::bucket/a", &[]), &none)
            .is_allowed());
        // The region wildcard may not swallow the account segment.
        assert!(!p
            .evaluate(&req("dynamodb:GetItem", TABLE, &[]), &none)
            .is_allowed());

        let p = policy(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:dynamodb:*:*:table/fv-*"}
        ]}));
        assert!(p
            .evaluate(&req("dynamodb:GetItem", TABLE, &[]), &none)
            .is_allowed());
        assert!(p
            .evaluate(
                &req("dynamodb:GetItem", &format!("{TABLE}/index/x"), &[]),
                &none
            )
            .is_allowed());
        assert!(!p
            .evaluate(
                &req(
                    "dynamodb:GetItem",
                    "arn:aws:dynamodb:us-east-1:1:table/other",
                    &[]
                ),
                &none
            )
            .is_allowed());
        // Trailing "*" in a short pattern absorbs the remaining segments.
        let p = policy(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:dynamodb:*"}
        ]}));
        assert!(p
            .evaluate(&req("dynamodb:GetItem", TABLE, &[]), &none)
            .is_allowed());
        assert!(!p
            .evaluate(&req("s3:GetObject", "arn:aws:s3:::b/k", &[]), &none)
            .is_allowed());
    }

    #[test]
    fn resource_variables() {
        let p = policy(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*",
             "Resource": "arn:aws:s3:::fv-files/tenants/${aws:PrincipalTag/tenant_id}/*"}
        ]}));
        let t = tags("a", "admin");
        assert!(p
            .evaluate(
                &req("s3:GetObject", "arn:aws:s3:::fv-files/tenants/a/x.pdf", &[]),
                &t
            )
            .is_allowed());
        assert!(!p
            .evaluate(
                &req("s3:GetObject", "arn:aws:s3:::fv-files/tenants/b/x.pdf", &[]),
                &t
            )
            .is_allowed());
        assert!(!p
            .evaluate(
                &req("s3:GetObject", "arn:aws:s3:::fv-files/tenants/a/x.pdf", &[]),
                &BTreeMap::new()
            )
            .is_allowed());
    }

    #[test]
    fn variables_are_literal_in_old_versions() {
        let doc = |version: Option<&str>| {
            let mut v = json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/${aws:PrincipalTag/tenant_id}/*"}]});
            if let Some(version) = version {
                v["Version"] = json!(version);
            }
            policy(v)
        };
        let t = tags("a", "admin");
        let literal = req(
            "s3:GetObject",
            "arn:aws:s3:::b/${aws:PrincipalTag/tenant_id}/k",
            &[],
        );
        let real = req("s3:GetObject", "arn:aws:s3:::b/a/k", &[]);
        for p in [doc(None), doc(Some("2008-10-17"))] {
            assert!(p.evaluate(&literal, &t).is_allowed());
            assert!(!p.evaluate(&real, &t).is_allowed());
        }
        let p = doc(Some("2012-10-17"));
        assert!(!p.evaluate(&literal, &t).is_allowed());
        assert!(p.evaluate(&real, &t).is_allowed());
    }

    #[test]
    fn variable_defaults_escapes_and_context_keys() {
        let p = policy(json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Default", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::b/${aws:PrincipalTag/team, 'it''s'}/*"},
            {"Sid": "Escape", "Effect": "Allow", "Action": "s3:PutObject",
             "Resource": "arn:aws:s3:::b/literal${*}star/${$}{x}"},
            {"Sid": "Ctx", "Effect": "Allow", "Action": "s3:DeleteObject",
             "Resource": "arn:aws:s3:::b/${aws:username}/*"}
        ]}));
        let mut t = tags("a", "admin");
        assert!(p
            .evaluate(&req("s3:GetObject", "arn:aws:s3:::b/it's/k", &[]), &t)
            .is_allowed());
        t.insert("team".into(), "ops".into());
        assert!(!p
            .evaluate(&req("s3:GetObject", "arn:aws:s3:::b/it's/k", &[]), &t)
            .is_allowed());
        assert!(p
            .evaluate(&req("s3:GetObject", "arn:aws:s3:::b/ops/k", &[]), &t)
            .is_allowed());

        assert!(p
            .evaluate(
                &req("s3:PutObject", "arn:aws:s3:::b/literal*star/${x}", &[]),
                &t
            )
            .is_allowed());
        assert!(!p
            .evaluate(
                &req("s3:PutObject", "arn:aws:s3:::b/literalXstar/${x}", &[]),
                &t
            )
            .is_allowed());

        let r = req(
            "s3:DeleteObject",
            "arn:aws:s3:::b/bob/k",
            &[("aws:username", &["bob"])],
        );
        assert!(p.evaluate(&r, &t).is_allowed());
        let r = req(
            "s3:DeleteObject",
            "arn:aws:s3:::b/bob/k",
            &[("aws:username", &["bob", "eve"])],
        );
        assert!(
            !p.evaluate(&r, &t).is_allowed(),
            "multi-valued keys are not variables"
        );
    }

    // --- conditions -------------------------------------------------------------

    /// Single-statement Allow policy with the given condition block.
    fn cond(block: Value) -> PolicyDocument {
        policy(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": block}]}))
    }

    fn allows(p: &PolicyDocument, ctx: &[(&str, &[&str])]) -> bool {
        p.evaluate(&req("s3:GetObject", "*", ctx), &tags("a", "admin"))
            .is_allowed()
    }

    #[test]
    fn string_operators_on_present_and_absent_keys() {
        let k = "s3:prefix";
        let eq = cond(json!({"StringEquals": {k: ["x", "y"]}}));
        assert!(allows(&eq, &[(k, &["y"])]));
        assert!(!allows(&eq, &[(k, &["Y"])]));
        assert!(!allows(&eq, &[]));
        let eq_star = cond(json!({"StringEquals": {k: "a*"}}));
        assert!(
            !allows(&eq_star, &[(k, &["abc"])]),
            "StringEquals has no wildcards"
        );
        assert!(allows(&eq_star, &[(k, &["a*"])]));

        let ne = cond(json!({"StringNotEquals": {k: ["x", "y"]}}));
        assert!(allows(&ne, &[(k, &["z"])]));
        assert!(!allows(&ne, &[(k, &["x"])]), "NOR over values");
        assert!(allows(&ne, &[]), "negated operators hold for absent keys");

        let ic = cond(json!({"StringEqualsIgnoreCase": {k: "HeLLo"}}));
        assert!(allows(&ic, &[(k, &["hello"])]));
        assert!(!allows(&ic, &[(k, &["hell"])]));
        let nic = cond(json!({"StringNotEqualsIgnoreCase": {k: "HeLLo"}}));
        assert!(!allows(&nic, &[(k, &["hello"])]));

        let like = cond(json!({"StringLike": {k: "T#?#*"}}));
        assert!(allows(&like, &[(k, &["T#a#CUST#01J/x#y"])]));
        assert!(!allows(&like, &[(k, &["T#ab#CUST"])]));
        assert!(!allows(&like, &[]));
        let not_like = cond(json!({"StringNotLike": {k: ["T#a#*", "T#b#*"]}}));
        assert!(allows(&not_like, &[(k, &["T#c#1"])]));
        assert!(!allows(&not_like, &[(k, &["T#b#1"])]));
        assert!(allows(&not_like, &[]));
    }

    #[test]
    fn if_exists() {
        let k = "aws:principaltag/dept";
        let p = cond(json!({"StringEqualsIfExists": {k: "ops"}}));
        assert!(allows(&p, &[]));
        assert!(allows(&p, &[(k, &["ops"])]));
        assert!(!allows(&p, &[(k, &["dev"])]));
        let p = cond(json!({"ForAnyValue:StringLikeIfExists": {"dynamodb:LeadingKeys": "T#a#*"}}));
        assert!(allows(&p, &[]));
        assert!(!allows(&p, &[("dynamodb:LeadingKeys", &["T#b#1"])]));
        let p = cond(json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}));
        assert!(allows(&p, &[]));
        assert!(!allows(&p, &[("aws:MultiFactorAuthPresent", &["false"])]));
    }

    #[test]
    fn set_qualifiers() {
        let k = "dynamodb:LeadingKeys";
        let all = cond(json!({"ForAllValues:StringLike": {k: ["T#a#*", "T#shared#*"]}}));
        assert!(allows(&all, &[(k, &["T#a#1", "T#shared#2"])]));
        assert!(!allows(&all, &[(k, &["T#a#1", "T#b#2"])]));
        assert!(
            allows(&all, &[]),
            "ForAllValues is vacuously true on an absent key"
        );
        assert!(allows(&all, &[(k, &[])]), "...and on an empty one");

        let any = cond(json!({"ForAnyValue:StringEquals": {k: ["T#a#1"]}}));
        assert!(allows(&any, &[(k, &["T#b#2", "T#a#1"])]));
        assert!(!allows(&any, &[(k, &["T#b#2"])]));
        assert!(!allows(&any, &[]));
        assert!(!allows(&any, &[(k, &[])]));

        let all_not = cond(json!({"ForAllValues:StringNotLike": {k: "T#b#*"}}));
        assert!(allows(&all_not, &[(k, &["T#a#1", "T#c#1"])]));
        assert!(!allows(&all_not, &[(k, &["T#a#1", "T#b#1"])]));
        let any_not = cond(json!({"ForAnyValue:StringNotEquals": {k: "T#a#1"}}));
        assert!(allows(&any_not, &[(k, &["T#a#1", "T#b#1"])]));
        assert!(!allows(&any_not, &[(k, &["T#a#1"])]));

        // Unqualified operator on a multi-valued key: any value matches.
        let single = cond(json!({"StringLike": {k: "T#a#*"}}));
        assert!(allows(&single, &[(k, &["T#b#1", "T#a#1"])]));
    }

    #[test]
    fn null_and_bool() {
        let k = "dynamodb:LeadingKeys";
        let present = cond(json!({"Null": {k: "false"}}));
        assert!(allows(&present, &[(k, &["x"])]));
        assert!(!allows(&present, &[]));
        let absent = cond(json!({"Null": {k: true}}));
        assert!(allows(&absent, &[]));
        assert!(allows(&absent, &[(k, &[])]));
        assert!(!allows(&absent, &[(k, &["x"])]));

        let b = cond(json!({"Bool": {"aws:SecureTransport": false}}));
        assert!(allows(&b, &[("aws:SecureTransport", &["false"])]));
        assert!(allows(&b, &[("aws:SecureTransport", &["FALSE"])]));
        assert!(!allows(&b, &[("aws:SecureTransport", &["true"])]));
        assert!(!allows(&b, &[]));
    }

    #[test]
    fn conditions_and_across_keys_and_operators() {
        let p = cond(json!({
            "StringEquals": {"aws:PrincipalTag/role": "admin", "s3:prefix": "a/"},
            "Null": {"s3:delimiter": "false"}
        }));
        assert!(allows(
            &p,
            &[("s3:prefix", &["a/"]), ("s3:delimiter", &["/"])]
        ));
        assert!(!allows(&p, &[("s3:prefix", &["a/"])]));
        assert!(!allows(
            &p,
            &[("s3:prefix", &["b/"]), ("s3:delimiter", &["/"])]
        ));
    }

    #[test]
    fn condition_keys_are_case_insensitive() {
        let p = cond(json!({"StringEquals": {"AWS:PRINCIPALTAG/ROLE": "admin", "S3:Prefix": "a"}}));
        assert!(allows(&p, &[("s3:PREFIX", &["a"])]));
    }

    #[test]
    fn condition_variables() {
        let k = "kms:EncryptionContext:tenant_id";
        let p = cond(json!({"StringEquals": {k: "${aws:PrincipalTag/tenant_id}"}}));
        assert!(allows(&p, &[(k, &["a"])]));
        assert!(!allows(&p, &[(k, &["b"])]));
        // Missing tag: the positive operator fails, the negated one holds (value is null).
        let none = BTreeMap::new();
        let r = req("s3:GetObject", "*", &[(k, &["a"])]);
        assert!(!p.evaluate(&r, &none).is_allowed());
        let neg = cond(json!({"StringNotEquals": {k: "${aws:PrincipalTag/tenant_id}"}}));
        assert!(neg.evaluate(&r, &none).is_allowed());
    }

    #[test]
    fn evaluate_all_requires_every_request() {
        let p = product_policy();
        let t = tags("a", "admin");
        let ok = get_item(&["T#a#1"]);
        let other = get_item(&["T#b#1"]);
        let scan = req("dynamodb:Scan", TABLE, &[]);
        assert!(p.evaluate_all(&[ok.clone(), ok.clone()], &t).is_allowed());
        assert_eq!(
            p.evaluate_all(&[ok.clone(), other.clone()], &t),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate_all(&[ok, other, scan], &t),
            Decision::ExplicitDeny {
                sid: sid("NoTableWideReads")
            }
        );
        assert_eq!(p.evaluate_all(&[], &t), Decision::ImplicitDeny);
    }

    // --- parse errors -----------------------------------------------------------

    fn parse_err(v: Value) -> PolicyError {
        PolicyDocument::from_json(&v).unwrap_err()
    }

    fn stmt(s: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": [s]})
    }

    #[test]
    fn unknown_operator_is_rejected() {
        let e = parse_err(stmt(
            json!({"Sid": "X", "Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"StringEqualz": {"aws:PrincipalTag/role": "x"}}}),
        ));
        assert_eq!(
            e,
            PolicyError::UnknownOperator {
                index: 0,
                sid: sid("X"),
                operator: "StringEqualz".into()
            }
        );
        for op in [
            "NumericEquals",
            "NullIfExists",
            "ForAllValues:Null",
            "stringequals",
            "ForAnyValues:StringLike",
        ] {
            let e = parse_err(stmt(
                json!({"Effect": "Deny", "Action": "*", "Resource": "*",
                "Condition": {op: {"k": "v"}}}),
            ));
            assert!(
                matches!(e, PolicyError::UnknownOperator { .. }),
                "{op}: {e:?}"
            );
        }
    }

    #[test]
    fn malformed_statements_are_rejected() {
        let bad = [
            json!({"Action": "*", "Resource": "*"}),
            json!({"Effect": "allow", "Action": "*", "Resource": "*"}),
            json!({"Effect": "Allow", "Resource": "*"}),
            json!({"Effect": "Allow", "Action": "*", "NotAction": "s3:*", "Resource": "*"}),
            json!({"Effect": "Allow", "Action": "*"}),
            json!({"Effect": "Allow", "Action": [], "Resource": "*"}),
            json!({"Effect": "Allow", "Action": ["s3:GetObject", 3], "Resource": "*"}),
            json!({"Effect": "Allow", "Action": "GetObject", "Resource": "*"}),
            json!({"Effect": "Allow", "Action": "*", "Resource": "bucket/*"}),
            json!({"Effect": "Allow", "Action": "*", "Resource": {"Fn::GetAtt": ["T", "Arn"]}}),
            json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}),
            json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Conditon": {}}),
            json!({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": []}),
            json!({"Effect": "Allow", "Action": "*", "Resource": "*",
                   "Condition": {"Null": {"k": "maybe"}}}),
            json!({"Effect": "Allow", "Action": "*", "Resource": "*",
                   "Condition": {"Bool": {"k": "yes"}}}),
            json!({"Effect": "Allow", "Action": "*", "Resource": "*",
                   "Condition": {"StringEquals": {"k": []}}}),
            json!({"Effect": "Allow", "Action": "*", "Resource": "*",
                   "Condition": {"StringEquals": {"k": {"Ref": "X"}}}}),
            json!({"Effect": "Allow", "Action": "*", "Resource": "*",
                   "Condition": {"StringEquals": "k"}}),
            json!({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/${aws:PrincipalTag/x"}),
            json!({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/${k, default}"}),
            json!({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/${}"}),
            json!("Allow everything"),
        ];
        for s in bad {
            let e = PolicyDocument::from_json(&stmt(s.clone()));
            assert!(
                matches!(e, Err(PolicyError::InvalidStatement { .. })),
                "{s}: {e:?}"
            );
        }
    }

    #[test]
    fn malformed_documents_are_rejected() {
        assert_eq!(parse_err(json!([])), PolicyError::NotAnObject);
        assert_eq!(
            parse_err(json!({"Version": "2012-10-17"})),
            PolicyError::MissingStatement
        );
        assert_eq!(
            parse_err(json!({"Version": "2012-10-17", "Statement": "Allow"})),
            PolicyError::MissingStatement
        );
        assert_eq!(
            parse_err(json!({"Version": "2020-01-01", "Statement": []})),
            PolicyError::UnsupportedVersion("2020-01-01".into())
        );
        assert!(matches!(
            parse_err(json!({"Version": "2012-10-17", "Statement": [], "Statment": []})),
            PolicyError::UnknownElement(e) if e == "Statment"
        ));
    }

    #[test]
    fn single_statement_object_and_empty_statement_list() {
        let p = policy(json!({"Version": "2012-10-17",
            "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}));
        assert!(p
            .evaluate(
                &req("s3:GetObject", "arn:aws:s3:::b/k", &[]),
                &BTreeMap::new()
            )
            .is_allowed());
        let p = policy(json!({"Version": "2012-10-17", "Statement": []}));
        assert_eq!(
            p.evaluate(&req("s3:GetObject", "*", &[]), &BTreeMap::new()),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn glob_edge_cases() {
        let toks = |s: &str| {
            Template::parse(s, false)
                .unwrap()
                .resolve(&Ctx {
                    keys: BTreeMap::new(),
                })
                .unwrap()
                .into_owned()
        };
        let m = |p: &str, t: &str| glob(&toks(p), &t.chars().collect::<Vec<_>>(), false);
        assert!(m("*", ""));
        assert!(m("**", "abc"));
        assert!(m("a*b*c", "a#b/x#c"));
        assert!(!m("a*b*c", "a#b/x#cd"));
        assert!(m("*#INV#*", "T#acme1#INV#01J"));
        assert!(!m("?", ""));
        assert!(m("a?c", "a/c"));
        assert!(!m("abc", "ab"));
        assert!(!m("ab", "abc"));
        assert!(m("é*", "été"));
        // Pathological backtracking stays fast.
        let long = "a".repeat(2000);
        assert!(!m("*a*a*a*a*a*b", &long));
    }
}
