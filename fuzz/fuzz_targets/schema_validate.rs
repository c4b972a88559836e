//! Schema validation, pruning and defaulting never panic (`[schema, object]`), and pruning
//! is idempotent.
#![no_main]

use canopy_machinery::schema::{apply_defaults, prune, validate};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Array(docs)) = serde_json::from_slice::<Value>(data) else { return };
    let [schema, obj] = docs.as_slice() else { return };
    let _ = validate(schema, obj);
    let mut o = obj.clone();
    let _ = prune(schema, &mut o);
    assert!(prune(schema, &mut o.clone()).is_empty());
    apply_defaults(schema, &mut o);
});
