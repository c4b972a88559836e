//! Arbitrary JSON documents for property tests.

use proptest::prelude::*;
use serde_json::Value;

/// JSON values up to four levels deep, with strings and member names drawn from the regexes.
pub fn json_value(strings: &'static str, names: &'static str) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        strings.prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(names, inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
