//! JSON forms of the messages that upstream marshals specially: metav1.Time and MicroTime
//! (RFC 3339 strings), resource.Quantity (its string), intstr.IntOrString (number or string),
//! runtime.RawExtension / metav1.FieldsV1 / apiextensions JSON (the embedded JSON) and the
//! JSONSchemaPropsOr* unions of CustomResourceDefinition schemas.

use serde_json::Value;

use crate::decode::Fields;
use crate::error::DecodeError;

/// Seconds from 0001-01-01T00:00:00Z (Go's zero `time.Time`) to the Unix epoch.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

fn invalid(fields: &Fields, problem: &'static str) -> DecodeError {
    DecodeError::InvalidValue { message: fields.message.name, problem }
}

fn int(fields: &Fields, tag: u32) -> i64 {
    fields.scalar(tag).and_then(Value::as_i64).unwrap_or(0)
}

/// Time {1 seconds, 2 nanos} as `2006-01-02T15:04:05Z`, or with `.000000` microseconds.
pub(crate) fn time(fields: &Fields, micro: bool) -> Result<Value, DecodeError> {
    let total = i128::from(int(fields, 1)) * 1_000_000_000 + i128::from(int(fields, 2));
    let seconds = i64::try_from(total.div_euclid(1_000_000_000)).map_err(|_| invalid(fields, "time out of range"))?;
    let nanos = total.rem_euclid(1_000_000_000) as u32;
    if seconds == GO_ZERO_TIME_UNIX && nanos == 0 {
        return Ok(Value::Null);
    }
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    if !(0..=9999).contains(&year) {
        return Err(invalid(fields, "time outside the years 0 to 9999"));
    }
    let of_day = seconds.rem_euclid(86_400);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if micro {
        text.push_str(&format!(".{:06}", nanos / 1000));
    }
    text.push('Z');
    Ok(Value::String(text))
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Quantity {1 string}: the canonical string the client serialized; absent is Go's zero, "0".
pub(crate) fn quantity(fields: &Fields) -> Value {
    match fields.scalar(1) {
        Some(Value::String(s)) if !s.is_empty() => Value::String(s.clone()),
        _ => Value::String("0".to_string()),
    }
}

/// IntOrString {1 type (0 int, 1 string), 2 intVal, 3 strVal}.
pub(crate) fn int_or_string(fields: &Fields) -> Result<Value, DecodeError> {
    match int(fields, 1) {
        0 => Ok(Value::from(int(fields, 2))),
        1 => Ok(fields.scalar(3).cloned().unwrap_or_else(|| Value::String(String::new()))),
        _ => Err(invalid(fields, "IntOrString type is neither 0 (int) nor 1 (string)")),
    }
}

/// {1 raw}: the embedded JSON document; `null` when empty. RawExtension may also carry a nested
/// protobuf object (prefixed by the magic), which is decoded in turn.
pub(crate) fn raw_json(fields: &Fields) -> Result<Value, DecodeError> {
    let raw = fields.bytes(1).unwrap_or_default();
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(&crate::MAGIC) {
        return crate::envelope::decode(raw, fields.depth + 1);
    }
    serde_json::from_slice(raw).map_err(|source| DecodeError::EmbeddedJson { message: fields.message.name, source })
}

/// JSONSchemaPropsOrArray / OrStringArray: the list when non-empty, else the schema, else null.
pub(crate) fn schema_or_list(fields: &Fields, schema: u32, list: u32) -> Result<Value, DecodeError> {
    let items = fields.list(list);
    if !items.is_empty() {
        return Ok(Value::Array(items));
    }
    Ok(fields.message(schema)?.unwrap_or(Value::Null))
}

/// JSONSchemaPropsOrBool {1 allows, 2 schema}: the schema when set, else the bool.
pub(crate) fn schema_or_bool(fields: &Fields) -> Result<Value, DecodeError> {
    if let Some(schema) = fields.message(2)? {
        return Ok(schema);
    }
    Ok(Value::Bool(fields.scalar(1).and_then(Value::as_bool).unwrap_or(false)))
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(-719_162), (1, 1, 1));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
    }
}
