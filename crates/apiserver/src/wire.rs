//! Stored bytes to wire bytes without a `Value`: a stored object differs from what clients get
//! only by its `apiVersion` (the version it is served at) and `metadata.resourceVersion` (the
//! store's revision), so both are spliced into the stored JSON while everything else is copied
//! as it is. Every watch event of every resource goes through here once (see
//! `handlers::watch::EncodedEvents`); decoding and re-encoding whole pods was a tenth of the
//! server's time during a scheduling burst.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use canopy_store::KeyValue;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The members of one JSON object, in order, values unparsed.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_map(MembersVisitor)
    }
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key_seed(Key)? {
            members.push((key, map.next_value::<&'de RawValue>()?));
        }
        Ok(Members(members))
    }
}

/// A member name, borrowed unless it has escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

fn members(bytes: &[u8]) -> serde_json::Result<Members<'_>> {
    serde_json::from_slice(bytes)
}

fn push_member(out: &mut Vec<u8>, first: &mut bool, name: &str, value: &[u8]) {
    if !std::mem::take(first) {
        out.push(b',');
    }
    serde_json::to_writer(&mut *out, name).expect("writing a string to a Vec cannot fail");
    out.push(b':');
    out.extend_from_slice(value);
}

/// The object stored in `kv` as clients get it at `api_version`: the same members as
/// `Objects::decode` gives (`apiVersion` first, `resourceVersion` last in `metadata`).
pub fn encode(api_version: &str, kv: &KeyValue) -> serde_json::Result<Bytes> {
    let top = members(&kv.value)?;
    let mut out = Vec::with_capacity(kv.value.len() + api_version.len() + 48);
    out.push(b'{');
    let mut first = true;
    push_member(&mut out, &mut first, "apiVersion", serde_json::to_string(api_version)?.as_bytes());
    let revision = format!("\"{}\"", kv.mod_revision);
    let mut had_metadata = false;
    for (name, value) in &top.0 {
        match name.as_ref() {
            "apiVersion" => {}
            "metadata" if value.get().starts_with('{') => {
                had_metadata = true;
                let mut meta = Vec::with_capacity(value.get().len() + 32);
                meta.push(b'{');
                let mut first_meta = true;
                for (m, v) in members(value.get().as_bytes())?.0.iter().filter(|(m, _)| m != "resourceVersion") {
                    push_member(&mut meta, &mut first_meta, m, v.get().as_bytes());
                }
                push_member(&mut meta, &mut first_meta, "resourceVersion", revision.as_bytes());
                meta.push(b'}');
                push_member(&mut out, &mut first, name, &meta);
            }
            // Not an object (never stored so): replaced by one holding the revision.
            "metadata" => {}
            _ => push_member(&mut out, &mut first, name, value.get().as_bytes()),
        }
    }
    if !had_metadata {
        push_member(&mut out, &mut first, "metadata", format!("{{\"resourceVersion\":{revision}}}").as_bytes());
    }
    out.push(b'}');
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn kv(value: &Value, revision: i64) -> KeyValue {
        KeyValue {
            key: "/registry/core/pods/ns/p".into(),
            value: Bytes::from(serde_json::to_vec(value).expect("encodes")),
            create_revision: 1,
            mod_revision: revision,
        }
    }

    /// What `Objects::decode` makes of the same bytes.
    fn decoded(api_version: &str, stored: &Value, revision: i64) -> Value {
        let mut obj = stored.clone();
        obj["apiVersion"] = json!(api_version);
        obj["metadata"]["resourceVersion"] = json!(revision.to_string());
        obj
    }

    #[test]
    fn splices_the_version_and_revision_into_the_stored_object() {
        let stored = json!({"apiVersion": "v1beta1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"a\"b": "c"}}, "spec": {"x": [1, 2.5, null, "\u{e9}"]}});
        let wire = encode("v1", &kv(&stored, 42)).expect("encodes");
        let got: Value = serde_json::from_slice(&wire).expect("valid JSON");
        assert_eq!(got, decoded("v1", &stored, 42));
    }

    #[test]
    fn a_stored_object_without_metadata_gets_one() {
        let got: Value =
            serde_json::from_slice(&encode("v1", &kv(&json!({"kind": "X"}), 7)).expect("encodes")).expect("valid JSON");
        assert_eq!(got, json!({"apiVersion": "v1", "kind": "X", "metadata": {"resourceVersion": "7"}}));
    }

    #[test]
    fn bytes_that_are_not_an_object_are_an_error() {
        let bad =
            KeyValue { key: "k".into(), value: Bytes::from_static(b"[1,2]"), create_revision: 1, mod_revision: 2 };
        assert!(encode("v1", &bad).is_err());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        crate::json_strategy::json_value("[a-z\"\\\\\u{e9} ]{0,8}", "[a-zA-Z\"]{1,6}")
    }

    proptest! {
        #[test]
        fn equals_decoding_and_setting_the_fields(
            metadata in prop::collection::btree_map("[a-zA-Z\"]{1,6}", json_value(), 0..5),
            rest in prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..5),
            revision in 1i64..i64::MAX,
        ) {
            let mut stored: serde_json::Map<String, Value> = rest.into_iter().collect();
            stored.insert("metadata".into(), Value::Object(metadata.into_iter().collect()));
            let stored = Value::Object(stored);
            let got: Value = serde_json::from_slice(&encode("apps/v1", &kv(&stored, revision)).expect("encodes"))
                .expect("valid JSON");
            prop_assert_eq!(got, decoded("apps/v1", &stored, revision));
        }
    }
}
