//! The shape of the generated message table (`generated_table.rs`): per protobuf message, its
//! fields' tags, upstream JSON names, wire types and how absent or zero values are emitted.
//! Lookup by apiVersion+kind lives here too; the table's contents do not.

use crate::generated_table::{KINDS, MESSAGES};

/// One protobuf message.
pub(crate) struct Message {
    /// Full protobuf name as k8s-pb spells it, e.g. `k8s.io.api.core.v1.Pod`.
    pub name: &'static str,
    /// How the decoded fields become JSON.
    pub shape: Shape,
    /// Fields in Go struct order, which is the order upstream writes JSON keys in.
    pub fields: &'static [Field],
}

/// One field: protobuf tag, JSON name, type, label.
pub(crate) struct Field(pub u32, pub &'static str, pub Kind, pub Label);

impl Field {
    pub fn tag(&self) -> u32 {
        self.0
    }
    pub fn json(&self) -> &'static str {
        self.1
    }
    pub fn kind(&self) -> Kind {
        self.2
    }
    pub fn label(&self) -> Label {
        self.3
    }
}

/// The type of a field. Message references are indices into `MESSAGES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Bytes,
    I32,
    I64,
    Bool,
    F64,
    Msg(u16),
    /// `map<string, string>`
    MapStr,
    /// `map<string, bytes>`
    MapBytes,
    /// `map<string, message>`
    MapMsg(u16),
}

/// Cardinality and zero-value handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Label {
    /// Emitted whenever present on the wire (Go pointers, fields without `omitempty`, messages).
    Opt,
    /// A non-pointer Go field with `omitempty`: its zero value is the Go default and is not emitted.
    OmitZero,
    /// Repeated field or map.
    Rep,
    /// An embedded Go struct with `json:",inline"`: its fields are merged into the parent object.
    Inline,
}

/// How a message's decoded fields map to JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A JSON object keyed by the fields' JSON names.
    Object,
    /// metav1.Time {1 seconds, 2 nanos}: RFC 3339 with seconds precision, `null` when zero.
    Time,
    /// metav1.MicroTime: RFC 3339 with microseconds, `null` when zero.
    MicroTime,
    /// resource.Quantity {1 string}: the string.
    Quantity,
    /// intstr.IntOrString {1 type, 2 intVal, 3 strVal}: a number or a string.
    IntOrString,
    /// runtime.RawExtension, metav1.FieldsV1, apiextensions JSON {1 raw}: the embedded JSON.
    RawJson,
    /// A message wrapping `repeated string` (ExtraValue): a JSON array.
    StringList,
    /// JSONSchemaPropsOrArray {1 schema, 2 schemas}: the array if non-empty, else the schema.
    SchemaOrArray,
    /// JSONSchemaPropsOrBool {1 allows, 2 schema}: the schema if set, else the bool.
    SchemaOrBool,
    /// JSONSchemaPropsOrStringArray {1 schema, 2 property}: the strings if non-empty, else the schema.
    SchemaOrStringArray,
}

pub(crate) fn message(index: u16) -> &'static Message {
    &MESSAGES[usize::from(index)]
}

/// The top-level message for an apiVersion and kind.
pub(crate) fn for_kind(api_version: &str, kind: &str) -> Option<&'static Message> {
    KINDS.binary_search_by(|(v, k, _)| (*v, *k).cmp(&(api_version, kind))).ok().map(|i| message(KINDS[i].2))
}

/// Every (apiVersion, kind) the table can decode, sorted.
pub(crate) fn kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    KINDS.iter().map(|(v, k, _)| (*v, *k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_sorted_object_messages() {
        assert!(KINDS.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)), "KINDS sorted and unique");
        for (api_version, kind, index) in KINDS {
            let message = message(*index);
            assert_eq!(message.shape, Shape::Object, "{api_version} {kind}");
            assert!(for_kind(api_version, kind).is_some_and(|m| std::ptr::eq(m, message)));
        }
        assert_eq!(for_kind("v1", "Namespace").map(|m| m.name), Some("k8s.io.api.core.v1.Namespace"));
        assert!(for_kind("v1", "Widget").is_none());
    }

    #[test]
    fn fields_are_consistent() {
        for message in MESSAGES {
            let mut tags: Vec<u32> = message.fields.iter().map(Field::tag).collect();
            tags.sort_unstable();
            tags.dedup();
            assert_eq!(tags.len(), message.fields.len(), "{}: duplicate tags", message.name);
            for field in message.fields {
                let at = format!("{}.{}", message.name, field.json());
                assert!(field.tag() > 0, "{at}");
                assert_eq!(field.json().is_empty(), field.label() == Label::Inline, "{at}");
                match field.kind() {
                    Kind::Msg(i) | Kind::MapMsg(i) => assert!(usize::from(i) < MESSAGES.len(), "{at}"),
                    _ => {}
                }
                if field.label() == Label::Inline {
                    assert!(matches!(field.kind(), Kind::Msg(i) if message_is_object(i)), "{at}");
                }
                if matches!(field.kind(), Kind::MapStr | Kind::MapBytes | Kind::MapMsg(_)) {
                    assert_eq!(field.label(), Label::Rep, "{at}");
                }
            }
        }
    }

    fn message_is_object(index: u16) -> bool {
        message(index).shape == Shape::Object
    }

    #[test]
    fn upstream_json_names_and_zero_handling() {
        let field = |kind: &str, json: &str| {
            let message = for_kind("v1", kind).expect("served kind");
            let spec = message.fields.iter().find(|f| f.json() == "spec").expect("spec");
            let Kind::Msg(spec) = spec.kind() else { panic!("spec is a message") };
            let found = self::message(spec).fields.iter().find(|f| f.json() == json);
            found.map(|f| (f.kind(), f.label()))
        };
        assert_eq!(field("Pod", "hostIPC"), Some((Kind::Bool, Label::OmitZero)));
        assert_eq!(field("Pod", "automountServiceAccountToken"), Some((Kind::Bool, Label::Opt)));
        assert_eq!(field("Service", "clusterIP"), Some((Kind::Str, Label::OmitZero)));
        assert_eq!(field("Service", "clusterIPs"), Some((Kind::Str, Label::Rep)));
    }
}
