//! A request body as the extraction reads it: JSON as `serde_json::Value`, except inside an
//! `Item` (a put's item: `PutItem`, `TransactWriteItems` puts, `BatchWriteItem` put requests).
//! There only the key attributes can matter (IAM's `LeadingKeys` is the partition key's
//! value, always an `S`, `N` or `B` string), so each attribute value keeps its type tags and
//! their string contents, and whatever else it holds (nested maps, lists, sets: most of a
//! write's bytes) becomes `null` without being built. Anything read from the result is what
//! the whole document would give (a test holds the extraction to that).
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Where in the document a value sits.
#[derive(Clone, Copy)]
enum Place {
    /// Anywhere outside an item: kept whole.
    Document,
    /// An item: attribute name → attribute value.
    Item,
    /// One attribute value of an item: type tag → contents, kept only if a string.
    Attribute,
}

impl<'de> DeserializeSeed<'de> for Place {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Place {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Place::Document)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = match self {
                Place::Document if key == "Item" => map.next_value_seed(Place::Item)?,
                Place::Document => map.next_value_seed(Place::Document)?,
                Place::Item => map.next_value_seed(Place::Attribute)?,
                Place::Attribute => map.next_value_seed(Contents)?,
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// An attribute value's contents: its text if a string, else `null`, unbuilt.
struct Contents;

impl<'de> DeserializeSeed<'de> for Contents {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Contents {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an attribute value's contents")
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }
}

/// Parse a request body (one JSON document, nothing after it).
pub fn parse(body: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Place::Document.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_keep_their_attribute_tags_and_strings_only_and_the_rest_is_whole() {
        let body = json!({
            "TransactItems": [{"Put": {
                "TableName": "t",
                "Item": {
                    "pk": {"S": "T#a#CUST#1"},
                    "n": {"N": "12"},
                    "m": {"M": {"x": {"S": "deep"}}},
                    "l": {"L": [{"S": "a"}]},
                    "odd": {"S": "x", "N": "1"},
                    "bad": {"BOOL": true},
                    "flat": "text",
                },
                "ConditionExpression": "attribute_not_exists(pk)",
                "ExpressionAttributeValues": {":v": {"M": {"k": {"S": "kept"}}}},
            }}],
            "Nested": {"Item": {"pk": {"S": "T#a#X"}}, "n": 1.5, "ok": true, "none": null},
        });
        let parsed = parse(body.to_string().as_bytes()).expect("parses");
        assert_eq!(
            parsed,
            json!({
                "TransactItems": [{"Put": {
                    "TableName": "t",
                    "Item": {
                        "pk": {"S": "T#a#CUST#1"},
                        "n": {"N": "12"},
                        "m": {"M": null},
                        "l": {"L": null},
                        "odd": {"S": "x", "N": "1"},
                        "bad": {"BOOL": null},
                        "flat": "text",
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ExpressionAttributeValues": {":v": {"M": {"k": {"S": "kept"}}}},
                }}],
                "Nested": {"Item": {"pk": {"S": "T#a#X"}}, "n": 1.5, "ok": true, "none": null},
            })
        );
    }

    #[test]
    fn malformed_or_trailing_input_is_an_error() {
        assert!(parse(b"{\"a\": ").is_err());
        assert!(parse(b"{} {}").is_err());
        assert!(parse(b"{\"Item\": {\"pk\": {\"S\": }}}").is_err());
        assert_eq!(parse(b" [1, \"x\"] ").ok(), Some(json!([1, "x"])));
    }
}
