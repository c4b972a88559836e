//! The table-driven decoder: reads one message's fields off the wire into slots, then turns
//! them into JSON: an object in Go struct order for ordinary messages, or the special form of
//! `shapes.rs` for Time, Quantity, IntOrString and the like.
//!
//! Protobuf semantics kept: unknown fields are skipped, the last occurrence of a singular
//! scalar wins, occurrences of a singular message are merged, repeated scalars may be packed.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::DecodeError;
use crate::shapes;
use crate::table::{self, Kind, Label, Message, Shape};
use crate::wire::{Reader, WireType};

/// Messages nest at most this deep (objects inside objects, map values, embedded envelopes).
/// Each level costs at least two input bytes, so without a bound a small body could nest
/// deeply enough to exhaust the stack.
pub const MAX_DEPTH: usize = 100;

/// The raw values of one field, gathered before JSON is built.
pub(crate) enum Slot<'a> {
    Empty,
    Scalar(Value),
    Bytes(&'a [u8]),
    /// Occurrences of a singular message field; their concatenation is the merged message.
    Segments(Vec<&'a [u8]>),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

/// One decoded message: its table entry and a slot per field.
pub(crate) struct Fields<'a> {
    pub message: &'static Message,
    pub slots: Vec<Slot<'a>>,
    pub depth: usize,
}

/// Decodes `buf` as `message` and renders it as upstream's JSON would.
pub(crate) fn to_json(message: &'static Message, buf: &[u8], depth: usize) -> Result<Value, DecodeError> {
    if depth >= MAX_DEPTH {
        return Err(DecodeError::TooDeep(MAX_DEPTH));
    }
    if buf.is_empty() && matches!(message.shape, Shape::Time | Shape::MicroTime) {
        // Go marshals the zero time as an empty message, and renders it as JSON null.
        return Ok(Value::Null);
    }
    let fields = read(message, buf, depth)?;
    match message.shape {
        Shape::Object => fields.into_object().map(Value::Object),
        Shape::Time => shapes::time(&fields, false),
        Shape::MicroTime => shapes::time(&fields, true),
        Shape::Quantity => Ok(shapes::quantity(&fields)),
        Shape::IntOrString => shapes::int_or_string(&fields),
        Shape::RawJson => shapes::raw_json(&fields),
        Shape::StringList => Ok(Value::Array(fields.list(1))),
        Shape::SchemaOrArray => shapes::schema_or_list(&fields, 1, 2),
        Shape::SchemaOrStringArray => shapes::schema_or_list(&fields, 1, 2),
        Shape::SchemaOrBool => shapes::schema_or_bool(&fields),
    }
}

fn wrong_wire_type(message: &'static Message, tag: u32, found: WireType) -> DecodeError {
    let found = match found {
        WireType::Varint => "varint",
        WireType::Fixed64 => "fixed64",
        WireType::Len => "length-delimited",
        WireType::Fixed32 => "fixed32",
    };
    DecodeError::WrongWireType { message: message.name, tag, found }
}

fn read<'a>(message: &'static Message, buf: &'a [u8], depth: usize) -> Result<Fields<'a>, DecodeError> {
    let wire = |source| DecodeError::Wire { message: message.name, source };
    let mut slots: Vec<Slot> = message.fields.iter().map(|_| Slot::Empty).collect();
    let mut reader = Reader::new(buf);
    while !reader.is_empty() {
        let (tag, wire_type) = reader.key().map_err(wire)?;
        let Some(index) = message.fields.iter().position(|f| f.tag() == tag) else {
            reader.skip(wire_type).map_err(wire)?;
            continue;
        };
        let field = &message.fields[index];
        let slot = &mut slots[index];
        let repeated = field.label() == Label::Rep;
        match (field.kind(), wire_type) {
            (Kind::Str, WireType::Len) => {
                let value = Value::String(String::from_utf8_lossy(reader.len_delimited().map_err(wire)?).into_owned());
                store(slot, value, repeated);
            }
            (Kind::Bytes, WireType::Len) => {
                let bytes = reader.len_delimited().map_err(wire)?;
                if repeated {
                    store(slot, base64_value(bytes), true);
                } else {
                    *slot = Slot::Bytes(bytes);
                }
            }
            (Kind::I32 | Kind::I64 | Kind::Bool, WireType::Varint) => {
                let value = varint_value(field.kind(), reader.varint().map_err(wire)?);
                store(slot, value, repeated);
            }
            (Kind::F64, WireType::Fixed64) => {
                let value = double_value(message, f64::from_bits(reader.fixed64().map_err(wire)?))?;
                store(slot, value, repeated);
            }
            (Kind::I32 | Kind::I64 | Kind::Bool | Kind::F64, WireType::Len) if repeated => {
                let mut packed = Reader::new(reader.len_delimited().map_err(wire)?);
                while !packed.is_empty() {
                    let value = if field.kind() == Kind::F64 {
                        double_value(message, f64::from_bits(packed.fixed64().map_err(wire)?))?
                    } else {
                        varint_value(field.kind(), packed.varint().map_err(wire)?)
                    };
                    store(slot, value, true);
                }
            }
            (Kind::Msg(child), WireType::Len) => {
                let bytes = reader.len_delimited().map_err(wire)?;
                if repeated {
                    store(slot, to_json(table::message(child), bytes, depth + 1)?, true);
                } else {
                    match slot {
                        Slot::Segments(segments) => segments.push(bytes),
                        other => *other = Slot::Segments(vec![bytes]),
                    }
                }
            }
            (Kind::MapStr | Kind::MapBytes | Kind::MapMsg(_), WireType::Len) => {
                let entry = reader.len_delimited().map_err(wire)?;
                let (key, value) = map_entry(message, field.kind(), entry, depth)?;
                match slot {
                    Slot::Map(map) => {
                        map.insert(key, value);
                    }
                    other => *other = Slot::Map(BTreeMap::from([(key, value)])),
                }
            }
            (_, found) => return Err(wrong_wire_type(message, tag, found)),
        }
    }
    Ok(Fields { message, slots, depth })
}

fn store(slot: &mut Slot, value: Value, repeated: bool) {
    match slot {
        Slot::List(list) if repeated => list.push(value),
        other if repeated => *other = Slot::List(vec![value]),
        other => *other = Slot::Scalar(value),
    }
}

fn base64_value(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn varint_value(kind: Kind, raw: u64) -> Value {
    match kind {
        Kind::Bool => Value::Bool(raw != 0),
        // int32 travels sign-extended to 64 bits; truncation recovers it.
        Kind::I32 => Value::from(raw as i32),
        _ => Value::from(raw as i64),
    }
}

/// Go writes integral floats without a fraction, so they read back as JSON integers.
fn double_value(message: &'static Message, value: f64) -> Result<Value, DecodeError> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.is_finite() && value.fract() == 0.0 && value.abs() < EXACT {
        return Ok(Value::from(value as i64));
    }
    serde_json::Number::from_f64(value)
        .map(Value::Number)
        .ok_or(DecodeError::InvalidValue { message: message.name, problem: "NaN or infinite number" })
}

/// A map entry is a message {1 key, 2 value}; a missing part is its zero value.
fn map_entry(
    message: &'static Message,
    kind: Kind,
    entry: &[u8],
    depth: usize,
) -> Result<(String, Value), DecodeError> {
    let wire = |source| DecodeError::Wire { message: message.name, source };
    let mut reader = Reader::new(entry);
    let mut key = String::new();
    let mut value: Option<&[u8]> = None;
    while !reader.is_empty() {
        match reader.key().map_err(wire)? {
            (1, WireType::Len) => key = String::from_utf8_lossy(reader.len_delimited().map_err(wire)?).into_owned(),
            (2, WireType::Len) => value = Some(reader.len_delimited().map_err(wire)?),
            (tag @ (1 | 2), found) => return Err(wrong_wire_type(message, tag, found)),
            (_, wire_type) => reader.skip(wire_type).map_err(wire)?,
        }
    }
    let value = value.unwrap_or_default();
    let value = match kind {
        Kind::MapStr => Value::String(String::from_utf8_lossy(value).into_owned()),
        Kind::MapBytes => base64_value(value),
        Kind::MapMsg(child) => to_json(table::message(child), value, depth + 1)?,
        _ => unreachable!("map_entry is only called for map kinds"),
    };
    Ok((key, value))
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

impl<'a> Fields<'a> {
    fn index(&self, tag: u32) -> Option<usize> {
        self.message.fields.iter().position(|f| f.tag() == tag)
    }

    fn slot(&self, tag: u32) -> &Slot<'a> {
        self.index(tag).map_or(&Slot::Empty, |i| &self.slots[i])
    }

    pub fn scalar(&self, tag: u32) -> Option<&Value> {
        match self.slot(tag) {
            Slot::Scalar(value) => Some(value),
            _ => None,
        }
    }

    pub fn bytes(&self, tag: u32) -> Option<&'a [u8]> {
        match self.slot(tag) {
            Slot::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }

    pub fn list(&self, tag: u32) -> Vec<Value> {
        match self.slot(tag) {
            Slot::List(list) => list.clone(),
            _ => Vec::new(),
        }
    }

    /// The singular message field `tag`, decoded, or None when absent.
    pub fn message(&self, tag: u32) -> Result<Option<Value>, DecodeError> {
        let (Some(index), Slot::Segments(segments)) = (self.index(tag), self.slot(tag)) else { return Ok(None) };
        let Kind::Msg(child) = self.message.fields[index].kind() else { return Ok(None) };
        segments_to_json(child, segments, self.depth).map(Some)
    }

    fn into_object(self) -> Result<Map<String, Value>, DecodeError> {
        let mut out = Map::new();
        for (field, slot) in self.message.fields.iter().zip(self.slots) {
            let omit_zero = field.label() == Label::OmitZero;
            let value = match slot {
                Slot::Empty => continue,
                Slot::Scalar(value) if omit_zero && is_zero(&value) => continue,
                Slot::Scalar(value) => value,
                Slot::Bytes(bytes) if omit_zero && bytes.is_empty() => continue,
                Slot::Bytes(bytes) => base64_value(bytes),
                Slot::List(list) => Value::Array(list),
                Slot::Map(map) => Value::Object(map.into_iter().collect()),
                Slot::Segments(segments) => {
                    let Kind::Msg(child) = field.kind() else { unreachable!("segments only hold messages") };
                    let value = segments_to_json(child, &segments, self.depth)?;
                    if field.label() == Label::Inline {
                        if let Value::Object(inner) = value {
                            out.extend(inner);
                        }
                        continue;
                    }
                    value
                }
            };
            out.insert(field.json().to_string(), value);
        }
        Ok(out)
    }
}

fn segments_to_json(child: u16, segments: &[&[u8]], depth: usize) -> Result<Value, DecodeError> {
    let message = table::message(child);
    match segments {
        [one] => to_json(message, one, depth + 1),
        many => to_json(message, &many.concat(), depth + 1),
    }
}
