//! Stored items read straight into record types: a serde `Deserializer` over DynamoDB
//! attribute values, so a read builds the record without first building the JSON object the
//! core's `Item` is (`dynamo::item_from_attrs`), then parsing that. It reads every attribute
//! exactly as `dynamo::from_attr` turns it into JSON (a unit test holds the two to the same
//! records), so which items parse as which record does not depend on the path taken.
use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::value::StringDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::Deserializer;

use crate::dynamo::{from_attr, KEY_ATTRS};

type Error = serde_json::Error;

/// A stored item (its key attributes left out) as a record of type `T`; `None` when the item
/// is not one.
pub fn record_from_attrs<T: DeserializeOwned>(
    mut attrs: HashMap<String, AttributeValue>,
) -> Option<T> {
    attrs.retain(|k, _| !KEY_ATTRS.contains(&k.as_str()));
    T::deserialize(AttrDeserializer(AttributeValue::M(attrs))).ok()
}

/// One attribute value.
struct AttrDeserializer(AttributeValue);

/// A number as `from_attr` reads it: an integer if it is one, else a float, else nothing.
enum Num {
    I(i64),
    U(u64),
    F(f64),
    None,
}

fn number(n: &str) -> Num {
    if let Ok(i) = n.parse::<i64>() {
        Num::I(i)
    } else if let Ok(u) = n.parse::<u64>() {
        Num::U(u)
    } else {
        match n.parse::<f64>() {
            // As serde_json's `Number::from_f64`: only finite floats are numbers.
            Ok(f) if f.is_finite() => Num::F(f),
            _ => Num::None,
        }
    }
}

/// Attribute values `from_attr` reads as JSON null.
fn is_null(a: &AttributeValue) -> bool {
    match a {
        AttributeValue::S(_)
        | AttributeValue::Bool(_)
        | AttributeValue::L(_)
        | AttributeValue::M(_)
        | AttributeValue::Ss(_) => false,
        AttributeValue::N(n) => matches!(number(n), Num::None),
        _ => true,
    }
}

impl<'de> Deserializer<'de> for AttrDeserializer {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            AttributeValue::S(s) => visitor.visit_string(s),
            AttributeValue::N(n) => match number(&n) {
                Num::I(i) => visitor.visit_i64(i),
                Num::U(u) => visitor.visit_u64(u),
                Num::F(f) => visitor.visit_f64(f),
                Num::None => visitor.visit_unit(),
            },
            AttributeValue::Bool(b) => visitor.visit_bool(b),
            AttributeValue::L(l) => {
                let mut seq = de::value::SeqDeserializer::new(l.into_iter().map(AttrDeserializer));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            AttributeValue::M(m) => visitor.visit_map(Entries::new(m.into_iter())),
            AttributeValue::Ss(s) => {
                let mut seq = de::value::SeqDeserializer::new(s.into_iter());
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            _ => visitor.visit_unit(),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if is_null(&self.0) {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            // A unit variant, as a string (the common case).
            AttributeValue::S(s) => visitor.visit_enum(s.into_deserializer()),
            // Anything else exactly as the JSON it reads as.
            other => from_attr(other).deserialize_enum(name, variants, visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de> IntoDeserializer<'de, Error> for AttrDeserializer {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

/// A map's entries: string keys, attribute values.
struct Entries<I> {
    iter: I,
    value: Option<AttributeValue>,
}

impl<I> Entries<I> {
    fn new(iter: I) -> Self {
        Entries { iter, value: None }
    }
}

impl<'de, I: Iterator<Item = (String, AttributeValue)>> de::MapAccess<'de> for Entries<I> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(StringDeserializer::<Error>::new(key))
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(AttrDeserializer(value)),
            None => Err(de::Error::custom(
                "a map value was asked for before its key",
            )),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.iter.size_hint().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::{item_from_attrs, to_attr};
    use fieldvault_core::store::{record_of, Item};
    use serde::Deserialize;
    use serde_json::{json, Value};

    fn attrs(v: Value) -> HashMap<String, AttributeValue> {
        match v {
            Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect(),
            _ => HashMap::new(),
        }
    }

    /// Both read paths give the same record (or both none).
    fn same<T: DeserializeOwned + serde::Serialize>(a: HashMap<String, AttributeValue>) {
        let item: Item = item_from_attrs(a.clone());
        let direct: Option<T> = record_from_attrs(a);
        let via_json: Option<T> = record_of(&item);
        assert_eq!(
            direct.map(|r| serde_json::to_value(r).ok()),
            via_json.map(|r| serde_json::to_value(r).ok()),
            "item {item:?}"
        );
    }

    #[derive(Debug, Deserialize, serde::Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Residential,
        Commercial,
        Tagged { n: u32 },
    }

    #[derive(Debug, Deserialize, serde::Serialize)]
    struct Id(String);

    #[derive(Debug, Deserialize, serde::Serialize)]
    struct Record {
        id: Id,
        kind: Kind,
        amount: i64,
        big: u64,
        rate: f64,
        note: Option<String>,
        gone: Option<String>,
        missing: Option<u32>,
        flags: Vec<bool>,
        nested: HashMap<String, Value>,
        tags: Vec<String>,
        any: Value,
        #[serde(default)]
        defaulted: Vec<u8>,
    }

    fn record() -> HashMap<String, AttributeValue> {
        let mut a = attrs(json!({
            "id": "c-1", "kind": "commercial", "amount": -42, "big": u64::MAX, "rate": 1.5,
            "note": "hi", "gone": null, "flags": [true, false],
            "nested": {"a": 1, "b": [1, "x", null], "c": {"d": false}},
            "any": {"x": [1.25, "y"]},
            "pk": "T#a#CUST#1", "sk": "PROFILE", "gsi1pk": "T#a#CUSTOMERS", "gsi1sk": "x",
            "tenant_id": "a",
        }));
        a.insert(
            "tags".into(),
            AttributeValue::Ss(vec!["b".into(), "a".into()]),
        );
        a
    }

    #[test]
    fn items_read_directly_as_records_equal_items_read_through_json() {
        assert!(record_from_attrs::<Record>(record()).is_some());
        same::<Record>(record());
        same::<Value>(record());
        same::<HashMap<String, Value>>(record());
        let mut tagged = record();
        tagged.insert("kind".into(), to_attr(&json!({"tagged": {"n": 7}})));
        same::<Record>(tagged);
        // Attribute types the JSON path reads as null: binary, number sets, NULL.
        let mut odd = record();
        odd.insert("note".into(), AttributeValue::Null(true));
        odd.insert("gone".into(), AttributeValue::Ns(vec!["1".into()]));
        odd.insert("missing".into(), AttributeValue::N("not a number".into()));
        assert!(record_from_attrs::<Record>(odd.clone()).is_some());
        same::<Record>(odd);
    }

    /// A stored customer, as `DynamoStore` writes it (item, keys, tenant), reads back whole.
    #[test]
    fn a_stored_customer_reads_back_the_same_on_both_paths() {
        use fieldvault_core::customer::{Customer, NewCustomer};
        use fieldvault_core::ids::{SystemIds, TenantId, UserId};
        let input: NewCustomer = serde_json::from_value(json!({
            "name": "Pat Doe",
            "contact_points": [{"kind": "phone", "value": "+15555550100", "sms_consent": true}],
            "service_locations": [{"label": "Home", "address": {
                "line1": "1 Main St", "city": "Springfield", "region": "IL", "postal_code": "62701"}}]
        }))
        .expect("input");
        let tenant = TenantId::parse("acme").expect("tenant");
        let by = UserId::parse("owner-1").expect("user");
        let now = time::OffsetDateTime::now_utc();
        let customer = Customer::create(&input, &tenant, &by, now, &SystemIds).expect("customer");
        let mut stored = attrs(Value::Object(customer.to_item()));
        stored.insert("pk".into(), AttributeValue::S("T#acme#CUST#1".into()));
        stored.insert("sk".into(), AttributeValue::S("PROFILE".into()));
        stored.insert("tenant_id".into(), AttributeValue::S("acme".into()));
        let read: Option<Customer> = record_from_attrs(stored.clone());
        assert_eq!(
            read.map(|c| c.to_item()),
            Some(customer.to_item()),
            "read back whole"
        );
        same::<Customer>(stored);
    }

    #[test]
    fn items_that_are_not_the_record_are_none_on_both_paths() {
        for (field, value) in [
            ("amount", json!("12")),
            ("kind", json!("industrial")),
            ("flags", json!("true")),
            ("id", json!(7)),
        ] {
            let mut a = record();
            a.insert(field.into(), to_attr(&value));
            let direct: Option<Record> = record_from_attrs(a.clone());
            assert!(direct.is_none(), "{field} = {value}");
            same::<Record>(a);
        }
        let mut a = record();
        a.remove("amount");
        same::<Record>(a);
    }

    #[test]
    fn key_attributes_are_left_out() {
        let direct: Option<HashMap<String, Value>> = record_from_attrs(record());
        let keys = direct
            .map(|m| m.into_keys().collect::<Vec<_>>())
            .unwrap_or_default();
        assert!(keys.contains(&"tenant_id".to_owned()));
        for k in KEY_ATTRS {
            assert!(!keys.contains(&k.to_owned()), "{k}");
        }
    }
}
