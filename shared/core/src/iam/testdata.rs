//! Shared fixtures for the IAM tests: the policy shape the product deploys.

use std::collections::BTreeMap;

use super::PolicyDocument;

/// The tenant-data policy attached to tenant session roles (region/account resolved).
pub(crate) const PRODUCT_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"TenantItems","Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:Query","dynamodb:PutItem","dynamodb:UpdateItem","dynamodb:DeleteItem","dynamodb:ConditionCheckItem","dynamodb:BatchGetItem","dynamodb:BatchWriteItem"],
  "Resource":["arn:aws:dynamodb:us-east-1:123456789012:table/fv-data","arn:aws:dynamodb:us-east-1:123456789012:table/fv-data/index/*"],
  "Condition":{"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["T#${aws:PrincipalTag/tenant_id}#*"]},"Null":{"dynamodb:LeadingKeys":"false"}}},
 {"Sid":"NoTableWideReads","Effect":"Deny","Action":["dynamodb:Scan","dynamodb:PartiQL*","dynamodb:ExecuteStatement","dynamodb:BatchExecuteStatement","dynamodb:ExecuteTransaction"],"Resource":"*"},
 {"Sid":"TechniciansNeverBilling","Effect":"Deny","Action":"dynamodb:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/role":"technician"},"ForAnyValue:StringLike":{"dynamodb:LeadingKeys":["T#*#INV#*","T#*#PAY#*"]}}}
]}"#;

pub(crate) fn product_policy() -> PolicyDocument {
    let doc: serde_json::Value = serde_json::from_str(PRODUCT_POLICY).unwrap();
    PolicyDocument::from_json(&doc).unwrap()
}

/// Principal tags of a tenant session.
pub(crate) fn tags(tenant_id: &str, role: &str) -> BTreeMap<String, String> {
    [("tenant_id", tenant_id), ("role", role), ("user", "u-1")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
