//! Partial decoding of stored objects: only the fields a selector reads are built into a
//! `Value`; everything else is parsed past without allocating. A filtered list or watch of
//! 30,000 pods then builds 30,000 small label maps instead of 30,000 whole pods, and decodes
//! in full only what it sends.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The dotted paths to keep, as a tree; a leaf keeps the whole value found there.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Projection(BTreeMap<String, Projection>);

impl Projection {
    /// Adds `a.b.c`; a path ending inside one already kept whole changes nothing.
    pub fn add(&mut self, path: &str) {
        let mut node = self;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let is_new = !node.0.contains_key(part);
            let child = node.0.entry(part.to_string()).or_default();
            if !is_new && child.0.is_empty() {
                return; // kept whole already
            }
            if parts.peek().is_none() {
                child.0.clear();
                return;
            }
            node = child;
        }
    }

    /// The kept fields of the JSON document `bytes`.
    pub fn decode(&self, bytes: &[u8]) -> serde_json::Result<Value> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value = Seed(self).deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }
}

struct Seed<'a>(&'a Projection);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        if self.0.0.is_empty() { Value::deserialize(de) } else { de.deserialize_any(self) }
    }
}

/// Anything but an object where the projection goes deeper reads as null: selectors see such
/// paths as missing, as they would on the whole object.
impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.0.0.get(key.as_ref()) {
                Some(child) => {
                    let value = map.next_value_seed(Seed(child))?;
                    out.insert(key.into_owned(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
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
    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn projection(paths: &[&str]) -> Projection {
        let mut p = Projection::default();
        paths.iter().for_each(|path| p.add(path));
        p
    }

    #[test]
    fn keeps_only_the_named_paths() {
        let pod = json!({
            "metadata": {"name": "a", "labels": {"app": "web"}, "annotations": {"big": "x"}},
            "spec": {"nodeName": "h1", "containers": [{"name": "c"}]},
            "status": {"phase": "Running"},
        });
        let p = projection(&["metadata.labels", "spec.nodeName", "metadata.name"]);
        let got = p.decode(&serde_json::to_vec(&pod).expect("encodes")).expect("decodes");
        assert_eq!(got, json!({"metadata": {"name": "a", "labels": {"app": "web"}}, "spec": {"nodeName": "h1"}}));
    }

    #[test]
    fn a_scalar_where_an_object_was_expected_reads_as_null() {
        let p = projection(&["spec.nodeName"]);
        assert_eq!(p.decode(br#"{"spec": 3}"#).expect("decodes"), json!({"spec": null}));
        assert_eq!(p.decode(br#"{"spec": ["x"]}"#).expect("decodes"), json!({"spec": null}));
        assert_eq!(p.decode(br#"[1, 2]"#).expect("decodes"), Value::Null);
    }

    #[test]
    fn a_whole_subtree_absorbs_deeper_paths() {
        assert_eq!(projection(&["metadata", "metadata.labels"]), projection(&["metadata"]));
        assert_eq!(projection(&["metadata.labels", "metadata"]), projection(&["metadata"]));
    }

    #[test]
    fn malformed_documents_are_errors() {
        let p = projection(&["metadata.labels"]);
        assert!(p.decode(b"{\"metadata\": ").is_err());
        assert!(p.decode(b"{} trailing").is_err());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        crate::json_strategy::json_value("[a-z]{0,4}", "[a-c]{1,2}")
    }

    /// What the projection keeps of `v`, computed on the whole value.
    fn expected(p: &Projection, v: &Value) -> Value {
        if p.0.is_empty() {
            return v.clone();
        }
        match v {
            Value::Object(m) => Value::Object(
                m.iter().filter_map(|(k, v)| p.0.get(k).map(|child| (k.clone(), expected(child, v)))).collect(),
            ),
            _ => Value::Null,
        }
    }

    proptest! {
        #[test]
        fn agrees_with_projecting_the_whole_value(
            v in json_value(),
            paths in prop::collection::vec("[a-c]{1,2}(\\.[a-c]{1,2}){0,2}", 0..4),
        ) {
            let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
            let p = projection(&refs);
            let got = p.decode(&serde_json::to_vec(&v).expect("encodes")).expect("decodes");
            prop_assert_eq!(got, expected(&p, &v));
        }
    }
}
