//! JSON patch and merge patch never panic (`[document, patch]`), and a merge patch built
//! from two documents turns the first into the second.
#![no_main]

use canopy_machinery::merge::{apply_json_patch, apply_merge_patch, create_merge_patch};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn has_null_in_object(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.values().any(|x| x.is_null() || has_null_in_object(x)),
        Value::Array(a) => a.iter().any(has_null_in_object),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Array(docs)) = serde_json::from_slice::<Value>(data) else { return };
    let [doc, patch] = docs.as_slice() else { return };
    let mut d = doc.clone();
    let _ = apply_json_patch(&mut d, patch);
    let mut d = doc.clone();
    apply_merge_patch(&mut d, patch);
    if !has_null_in_object(patch) {
        let diff = create_merge_patch(doc, patch);
        let mut d = doc.clone();
        apply_merge_patch(&mut d, &diff);
        assert_eq!(&d, patch);
    }
});
