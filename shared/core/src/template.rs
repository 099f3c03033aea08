//! Reads `template.yaml`, the one definition of what is deployed. The local stack creates
//! its tables and user pool from it, and the local policy guard evaluates the tenant role's
//! policy from it, so local and AWS cannot drift apart.
use std::collections::HashMap;

use serde_json::{Map, Value};

/// The template, embedded at build time.
pub const TEMPLATE_YAML: &str = include_str!("../../../template.yaml");

/// Logical id of the tenant data role and the name of its policy.
pub const TENANT_ROLE: &str = "TenantDataRole";
pub const TENANT_POLICY: &str = "tenant-data";

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template.yaml is not valid YAML: {0}")]
    Yaml(String),
    #[error("template.yaml has no {0}")]
    Missing(String),
    #[error("cannot resolve {0}")]
    Unresolved(String),
}

/// The parsed template as JSON.
pub struct Template(Value);

/// Values for `Ref`, `Fn::GetAtt` and `${...}` in `Fn::Sub`.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    /// `Ref` targets and pseudo parameters: "DataTable", "AWS::Region", …
    pub refs: HashMap<String, String>,
    /// `Fn::GetAtt` targets as "Logical.Attribute": "DataTable.Arn", …
    pub attrs: HashMap<String, String>,
}

impl Template {
    pub fn embedded() -> Result<Template, TemplateError> {
        Template::parse(TEMPLATE_YAML)
    }

    pub fn parse(yaml: &str) -> Result<Template, TemplateError> {
        let value: Value =
            serde_yaml::from_str(yaml).map_err(|e| TemplateError::Yaml(e.to_string()))?;
        Ok(Template(value))
    }

    pub fn raw(&self) -> &Value {
        &self.0
    }

    pub fn resources(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0["Resources"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.iter())
    }

    pub fn resource(&self, logical_id: &str) -> Result<&Value, TemplateError> {
        self.0["Resources"]
            .get(logical_id)
            .ok_or_else(|| TemplateError::Missing(format!("resource {logical_id}")))
    }

    /// Logical ids of resources of one type, in file order.
    pub fn resources_of_type<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.resources().filter(move |(_, r)| r["Type"] == kind)
    }

    /// The tenant role's data policy, unresolved.
    pub fn tenant_policy(&self) -> Result<&Value, TemplateError> {
        let role = self.resource(TENANT_ROLE)?;
        role["Properties"]["Policies"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["PolicyName"] == TENANT_POLICY))
            .map(|p| &p["PolicyDocument"])
            .ok_or_else(|| {
                TemplateError::Missing(format!("policy {TENANT_POLICY} on {TENANT_ROLE}"))
            })
    }

    /// A role's trust policy (`AssumeRolePolicyDocument`), unresolved.
    pub fn trust_policy(&self, role: &str) -> Result<&Value, TemplateError> {
        let doc = &self.resource(role)?["Properties"]["AssumeRolePolicyDocument"];
        if doc.is_object() {
            Ok(doc)
        } else {
            Err(TemplateError::Missing(format!("trust policy of {role}")))
        }
    }

    /// Every statement the template grants `role`, as one identity policy (unresolved): its
    /// inline policies, and the template's `AWS::IAM::Policy` and `AWS::IAM::ManagedPolicy`
    /// resources that name it in `Roles` or that it lists in `ManagedPolicyArns`. AWS managed
    /// policies it attaches are not in the template and not included (the stack attaches
    /// only X-Ray's, which grants no STS or data action).
    pub fn role_policy(&self, role: &str) -> Result<Value, TemplateError> {
        let r = self.resource(role)?;
        let reference = serde_json::json!({ "Ref": role });
        let mut documents: Vec<&Value> = r["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| &p["PolicyDocument"])
            .collect();
        let managed: Vec<&Value> = r["Properties"]["ManagedPolicyArns"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        for (id, p) in self.resources() {
            let kind = &p["Type"];
            if kind != "AWS::IAM::Policy" && kind != "AWS::IAM::ManagedPolicy" {
                continue;
            }
            let names_role = p["Properties"]["Roles"]
                .as_array()
                .is_some_and(|roles| roles.contains(&reference));
            let listed = managed.contains(&&serde_json::json!({ "Ref": id }));
            if names_role || listed {
                documents.push(&p["Properties"]["PolicyDocument"]);
            }
        }
        let mut statements = Vec::new();
        for doc in documents {
            if doc["Version"] != "2012-10-17" {
                return Err(TemplateError::Unresolved(format!(
                    "a policy of {role} is not Version 2012-10-17"
                )));
            }
            match &doc["Statement"] {
                Value::Array(items) => statements.extend(items.iter().cloned()),
                item @ Value::Object(_) => statements.push(item.clone()),
                _ => {
                    return Err(TemplateError::Missing(format!(
                        "statements of a policy of {role}"
                    )))
                }
            }
        }
        Ok(serde_json::json!({ "Version": "2012-10-17", "Statement": statements }))
    }

    /// The execution role (logical id) a function runs as: its `Role: Fn::GetAtt [Id, Arn]`.
    pub fn function_role(&self, function: &str) -> Result<String, TemplateError> {
        self.resource(function)?["Properties"]["Role"]["Fn::GetAtt"][0]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| TemplateError::Missing(format!("Role of {function}")))
    }

    /// HttpApi events of every function: (logical id, method, path, authenticated).
    pub fn http_routes(&self) -> Vec<(String, String, String, bool)> {
        let mut out = Vec::new();
        for (id, f) in self.resources_of_type("AWS::Serverless::Function") {
            let events = f["Properties"]["Events"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values());
            for e in events.filter(|e| e["Type"] == "HttpApi") {
                let p = &e["Properties"];
                let open = p["Auth"]["Authorizer"] == "NONE";
                out.push((
                    id.clone(),
                    p["Method"].as_str().unwrap_or_default().to_uppercase(),
                    p["Path"].as_str().unwrap_or_default().to_owned(),
                    !open,
                ));
            }
        }
        out
    }
}

impl Bindings {
    /// Resolve CloudFormation intrinsics in `value`. `${!Literal}` in `Fn::Sub` stays
    /// `${Literal}`, and so does any `${...}` that names an IAM policy variable (`aws:`),
    /// which CloudFormation also passes through untouched.
    pub fn resolve(&self, value: &Value) -> Result<Value, TemplateError> {
        match value {
            Value::Object(m) if m.len() == 1 => {
                let (k, v) = m
                    .iter()
                    .next()
                    .ok_or_else(|| TemplateError::Unresolved("{}".into()))?;
                match k.as_str() {
                    "Ref" => {
                        let name = v.as_str().unwrap_or_default();
                        self.refs
                            .get(name)
                            .map(|s| Value::String(s.clone()))
                            .ok_or_else(|| TemplateError::Unresolved(format!("Ref {name}")))
                    }
                    "Fn::GetAtt" => {
                        let name = match v {
                            Value::Array(parts) => parts
                                .iter()
                                .filter_map(Value::as_str)
                                .collect::<Vec<_>>()
                                .join("."),
                            Value::String(s) => s.clone(),
                            _ => String::new(),
                        };
                        self.attrs
                            .get(&name)
                            .map(|s| Value::String(s.clone()))
                            .ok_or_else(|| TemplateError::Unresolved(format!("Fn::GetAtt {name}")))
                    }
                    "Fn::Sub" => self.sub(v.as_str().unwrap_or_default()).map(Value::String),
                    _ => {
                        let mut out = Map::new();
                        out.insert(k.clone(), self.resolve(v)?);
                        Ok(Value::Object(out))
                    }
                }
            }
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    out.insert(k.clone(), self.resolve(v)?);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => items
                .iter()
                .map(|v| self.resolve(v))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    fn sub(&self, text: &str) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| TemplateError::Unresolved(text.into()))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if name.starts_with("aws:") {
                out.push_str(&format!("${{{name}}}"));
            } else if let Some(v) = self.refs.get(name).or_else(|| self.attrs.get(name)) {
                out.push_str(v);
            } else {
                return Err(TemplateError::Unresolved(format!("${{{name}}} in {text}")));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_template_parses_and_names_the_tenant_policy() {
        let t = Template::embedded().expect("template parses");
        let policy = t.tenant_policy().expect("tenant policy");
        assert!(policy["Statement"]
            .as_array()
            .is_some_and(|s| !s.is_empty()));
        assert!(!t.http_routes().is_empty());
    }

    #[test]
    fn intrinsics_resolve_and_policy_variables_pass_through() {
        let mut b = Bindings::default();
        b.refs.insert("AWS::Region".into(), "us-east-1".into());
        b.attrs.insert("DataTable.Arn".into(), "arn:table/x".into());
        let v = serde_json::json!({
            "a": {"Fn::Sub": "${DataTable.Arn}/index/*"},
            "b": {"Fn::GetAtt": ["DataTable", "Arn"]},
            "c": "T#${aws:PrincipalTag/tenant_id}#*",
            "d": {"Fn::Sub": "${!Literal}-${AWS::Region}"},
        });
        let r = b.resolve(&v).expect("resolves");
        assert_eq!(r["a"], "arn:table/x/index/*");
        assert_eq!(r["b"], "arn:table/x");
        assert_eq!(r["c"], "T#${aws:PrincipalTag/tenant_id}#*");
        assert_eq!(r["d"], "${Literal}-us-east-1");
        assert!(b.resolve(&serde_json::json!({"Ref": "Nope"})).is_err());
    }
}
