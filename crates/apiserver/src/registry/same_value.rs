//! Whether a typed object serializes to a given JSON value, found without building the value.
//!
//! Every write of a built-in kind is decoded into its typed form (to validate it) and
//! serialized back (to normalize it). Most written objects are normal already: a status write
//! merged into a stored pod, a create from a typed client. [`same_value`] serializes into a
//! comparison with the written value instead of into a new one, and stops at the first
//! difference; only objects that differ are serialized again. Equality is `serde_json::Value`
//! equality: members in any order, numbers by their JSON kind.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible};
use serde_json::{Map, Number, Value};

/// `serde_json::to_value(typed) == Ok(expected)`, without building the left side.
pub fn same_value<T: Serialize>(typed: &T, expected: &Value) -> bool {
    typed.serialize(Compare(expected)).is_ok()
}

/// The value differs (or cannot be compared): the comparison stops.
#[derive(Debug)]
pub struct Differs;

impl fmt::Display for Differs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the value differs")
    }
}

impl std::error::Error for Differs {}

impl ser::Error for Differs {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Differs
    }
}

type Outcome = Result<(), Differs>;

fn check(same: bool) -> Outcome {
    if same { Ok(()) } else { Err(Differs) }
}

struct Compare<'a>(&'a Value);

/// The integer methods of [`Compare`]: a number equal to the expected one.
macro_rules! numbers {
    ($($method:ident: $t:ty),*) => {$(
        fn $method(self, v: $t) -> Outcome {
            self.number(v.into())
        }
    )*};
}

/// Methods of [`KeyName`] for values that are no member name.
macro_rules! refuse {
    ($($method:ident: $t:ty),*) => {$(
        fn $method(self, _: $t) -> Result<String, Differs> {
            Err(Differs)
        }
    )*};
}

impl Compare<'_> {
    fn number(self, n: Number) -> Outcome {
        check(matches!(self.0, Value::Number(m) if *m == n))
    }
}

impl<'a> ser::Serializer for Compare<'a> {
    type Ok = ();
    type Error = Differs;
    type SerializeSeq = Items<'a>;
    type SerializeTuple = Items<'a>;
    type SerializeTupleStruct = Items<'a>;
    type SerializeTupleVariant = Impossible<(), Differs>;
    type SerializeMap = Members<'a>;
    type SerializeStruct = Members<'a>;
    type SerializeStructVariant = Impossible<(), Differs>;

    fn serialize_bool(self, v: bool) -> Outcome {
        check(self.0.as_bool() == Some(v))
    }

    numbers!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64);
    numbers!(serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);

    fn serialize_f32(self, v: f32) -> Outcome {
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Outcome {
        // Non-finite numbers become null in serde_json.
        match Number::from_f64(v) {
            Some(n) => self.number(n),
            None => check(self.0.is_null()),
        }
    }

    fn serialize_char(self, v: char) -> Outcome {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Outcome {
        check(self.0.as_str() == Some(v))
    }

    fn serialize_bytes(self, v: &[u8]) -> Outcome {
        let items = self.0.as_array().ok_or(Differs)?;
        check(items.len() == v.len() && items.iter().zip(v).all(|(i, b)| i.as_u64() == Some(u64::from(*b))))
    }

    fn serialize_none(self) -> Outcome {
        check(self.0.is_null())
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Outcome {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Outcome {
        check(self.0.is_null())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Outcome {
        check(self.0.is_null())
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Outcome {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, value: &T) -> Outcome {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Outcome {
        let m = self.0.as_object().ok_or(Differs)?;
        check(m.len() == 1)?;
        value.serialize(Compare(m.get(variant).ok_or(Differs)?))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Items<'a>, Differs> {
        let items = self.0.as_array().ok_or(Differs)?;
        check(len.is_none_or(|n| n == items.len()))?;
        Ok(Items { items, next: 0 })
    }

    fn serialize_tuple(self, len: usize) -> Result<Items<'a>, Differs> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Items<'a>, Differs> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Differs> {
        Err(Differs)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Members<'a>, Differs> {
        Ok(Members { members: self.0.as_object().ok_or(Differs)?, seen: 0, key: None })
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Members<'a>, Differs> {
        self.serialize_map(None)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Differs> {
        Err(Differs)
    }
}

struct Items<'a> {
    items: &'a [Value],
    next: usize,
}

impl Items<'_> {
    fn item<T: ?Sized + Serialize>(&mut self, value: &T) -> Outcome {
        let expected = self.items.get(self.next).ok_or(Differs)?;
        self.next += 1;
        value.serialize(Compare(expected))
    }

    fn done(self) -> Outcome {
        check(self.next == self.items.len())
    }
}

/// The three sequence traits, all one comparison of items in order.
macro_rules! items {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Items<'_> {
            type Ok = ();
            type Error = Differs;

            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Outcome {
                self.item(value)
            }

            fn end(self) -> Outcome {
                self.done()
            }
        }
    )*};
}

items!(SerializeSeq::serialize_element, SerializeTuple::serialize_element, SerializeTupleStruct::serialize_field);

/// Members are matched by name; every expected member must be written exactly once.
struct Members<'a> {
    members: &'a Map<String, Value>,
    seen: usize,
    key: Option<&'a Value>,
}

impl Members<'_> {
    fn member<T: ?Sized + Serialize>(&mut self, name: &str, value: &T) -> Outcome {
        let expected = self.members.get(name).ok_or(Differs)?;
        self.seen += 1;
        value.serialize(Compare(expected))
    }

    fn done(self) -> Outcome {
        check(self.seen == self.members.len())
    }
}

impl ser::SerializeMap for Members<'_> {
    type Ok = ();
    type Error = Differs;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Outcome {
        let name = key.serialize(KeyName)?;
        self.key = Some(self.members.get(&name).ok_or(Differs)?);
        self.seen += 1;
        Ok(())
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Outcome {
        value.serialize(Compare(self.key.take().ok_or(Differs)?))
    }

    fn end(self) -> Outcome {
        self.done()
    }
}

impl ser::SerializeStruct for Members<'_> {
    type Ok = ();
    type Error = Differs;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, name: &'static str, value: &T) -> Outcome {
        self.member(name, value)
    }

    fn end(self) -> Outcome {
        self.done()
    }
}

/// Map keys as serde_json writes them: strings as they are, anything else differs (rare in
/// API types; the comparison then falls back to building the value).
struct KeyName;

impl ser::Serializer for KeyName {
    type Ok = String;
    type Error = Differs;
    type SerializeSeq = Impossible<String, Differs>;
    type SerializeTuple = Impossible<String, Differs>;
    type SerializeTupleStruct = Impossible<String, Differs>;
    type SerializeTupleVariant = Impossible<String, Differs>;
    type SerializeMap = Impossible<String, Differs>;
    type SerializeStruct = Impossible<String, Differs>;
    type SerializeStructVariant = Impossible<String, Differs>;

    fn serialize_str(self, v: &str) -> Result<String, Differs> {
        Ok(v.to_string())
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, value: &T) -> Result<String, Differs> {
        value.serialize(self)
    }

    refuse!(serialize_bool: bool, serialize_char: char, serialize_bytes: &[u8]);
    refuse!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64);
    refuse!(serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);
    refuse!(serialize_f32: f32, serialize_f64: f64);

    fn serialize_none(self) -> Result<String, Differs> {
        Err(Differs)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<String, Differs> {
        Err(Differs)
    }

    fn serialize_unit(self) -> Result<String, Differs> {
        Err(Differs)
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<String, Differs> {
        Err(Differs)
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<String, Differs> {
        Ok(variant.to_string())
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Differs> {
        Err(Differs)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Differs> {
        Err(Differs)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Differs> {
        Err(Differs)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Differs> {
        Err(Differs)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Differs> {
        Err(Differs)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Differs> {
        Err(Differs)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Differs> {
        Err(Differs)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Differs> {
        Err(Differs)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::{Event, Pod};
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn pod() -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "d", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": "100m"}}, "ports": [{"containerPort": 80}]}],
                "terminationGracePeriodSeconds": 30},
            "status": {"phase": "Running", "startTime": "2026-01-02T03:04:05Z",
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-02T03:04:05Z"}]}})
    }

    fn agrees<T: serde::de::DeserializeOwned + Serialize>(v: &Value) -> bool {
        let Ok(typed) = T::deserialize(v) else { return true };
        let built = serde_json::to_value(&typed).expect("serializes");
        same_value(&typed, v) == (built == *v)
    }

    #[test]
    fn a_normal_object_is_the_same_in_any_member_order() {
        let v = pod();
        let typed: Pod = serde_json::from_value(v.clone()).expect("a pod");
        assert!(same_value(&typed, &v));
        let mut reordered = Map::new();
        for (k, val) in v.as_object().expect("object").iter().rev() {
            reordered.insert(k.clone(), val.clone());
        }
        assert!(same_value(&typed, &Value::Object(reordered)));
    }

    #[test]
    fn what_normalizing_changes_differs() {
        let typed: Pod = serde_json::from_value(pod()).expect("a pod");
        let with = |f: &dyn Fn(&mut Value)| {
            let mut v = pod();
            f(&mut v);
            v
        };
        // A sub-second time is written at second precision; an unknown member is dropped;
        // a null member is left out; an integer written as a float is an integer.
        for changed in [
            with(&|v| v["status"]["startTime"] = json!("2026-01-02T03:04:05.5Z")),
            with(&|v| v["spec"]["bogus"] = json!(1)),
            with(&|v| v["spec"]["nodeName"] = Value::Null),
            with(&|v| v["spec"]["terminationGracePeriodSeconds"] = json!(30.0)),
            with(&|v| v["metadata"]["labels"]["c"] = json!("d")),
            with(&|v| v["spec"]["containers"][0]["ports"] = json!([])),
        ] {
            let typed_changed: Result<Pod, _> = serde::Deserialize::deserialize(&changed);
            if let Ok(t) = typed_changed {
                assert_eq!(same_value(&t, &changed), serde_json::to_value(&t).expect("serializes") == changed);
            }
            assert!(!same_value(&typed, &changed), "{changed}");
        }
    }

    #[test]
    fn events_and_maps_compare_like_built_values() {
        let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "d"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started", "count": 1,
            "firstTimestamp": "2026-01-02T03:04:05Z", "type": "Normal", "source": {"component": "x"}});
        assert!(agrees::<Event>(&event));
        let typed: Event = serde_json::from_value(event.clone()).expect("an event");
        assert!(same_value(&typed, &event));
        let map: BTreeMap<String, i32> = [("a".to_string(), 1)].into();
        assert!(same_value(&map, &json!({"a": 1})));
        assert!(!same_value(&map, &json!({"a": 1, "b": 2})));
        assert!(!same_value(&map, &json!({"a": 2})));
    }

    proptest! {
        /// Whatever a pod-shaped document holds, the comparison says what building and
        /// comparing the value would.
        #[test]
        fn agrees_with_building_the_value(
            name in "[a-z]{1,3}",
            port in prop_oneof![Just(json!(80)), Just(json!(80.0)), Just(json!("80")), Just(Value::Null)],
            phase in prop_oneof![Just(json!("Running")), Just(Value::Null), Just(json!(1))],
            time in prop_oneof![Just(json!("2026-01-02T03:04:05Z")), Just(json!("2026-01-02T03:04:05.1Z"))],
            extra in prop::option::of(("[a-z]{1,3}", prop_oneof![Just(json!(1)), Just(Value::Null)])),
        ) {
            let mut v = pod();
            v["metadata"]["name"] = json!(name);
            v["spec"]["containers"][0]["ports"][0]["containerPort"] = port;
            v["status"]["phase"] = phase;
            v["status"]["startTime"] = time;
            if let Some((k, x)) = extra {
                v["status"][k] = x;
            }
            prop_assert!(agrees::<Pod>(&v));
        }
    }
}
