//! Conversion of the structured `metav1.LabelSelector` JSON (`matchLabels`,
//! `matchExpressions`) into a [`LabelSelector`], as upstream `LabelSelectorAsSelector`.

use serde_json::Value;

use super::{LabelSelector, LabelSelectorError, Operator, Requirement, requirement_error};

/// Converts a `metav1.LabelSelector` value. `null` (an absent selector) matches nothing;
/// `{}` matches everything.
pub fn from_structured(selector: &Value) -> Result<LabelSelector, LabelSelectorError> {
    let obj = match selector {
        Value::Null => return Ok(LabelSelector::nothing()),
        Value::Object(o) => o,
        _ => return Err(LabelSelectorError::Malformed("expected an object".into())),
    };
    let match_labels = match obj.get("matchLabels") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        Some(_) => return Err(LabelSelectorError::Malformed("matchLabels must be an object".into())),
    };
    let exprs = match obj.get("matchExpressions") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => {
            return Err(LabelSelectorError::Malformed("matchExpressions must be a list".into()));
        }
    };
    if match_labels.is_none_or(|m| m.is_empty()) && exprs.is_empty() {
        return Ok(LabelSelector::everything());
    }
    let mut reqs = Vec::new();
    for (k, v) in match_labels.into_iter().flatten() {
        let v =
            v.as_str().ok_or_else(|| LabelSelectorError::Malformed(format!("matchLabels[{k}] must be a string")))?;
        let r = Requirement::new(k, Operator::Equals, vec![v.to_string()])
            .map_err(|e| LabelSelectorError::Invalid(requirement_error(&e)))?;
        reqs.push(r);
    }
    for expr in exprs {
        let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
        let op_str = expr.get("operator").and_then(Value::as_str).unwrap_or_default();
        let op = match op_str {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => return Err(LabelSelectorError::UnknownOperator(other.to_string())),
        };
        let values = match expr.get("values") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(vs)) => vs
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| LabelSelectorError::Malformed("matchExpressions values must be strings".into()))?,
            Some(_) => {
                return Err(LabelSelectorError::Malformed("matchExpressions values must be a list".into()));
            }
        };
        let r = Requirement::new(key, op, values).map_err(|e| LabelSelectorError::Invalid(requirement_error(&e)))?;
        reqs.push(r);
    }
    Ok(LabelSelector::from_requirements(reqs))
}
