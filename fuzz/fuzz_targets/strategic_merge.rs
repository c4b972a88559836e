//! Strategic merge patch never panics on any pair of JSON documents (`[original, patch]`),
//! with Pod metadata and with none.
#![no_main]

use canopy_machinery::strategic::{NoPatchMeta, apply, builtin_patch_meta};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Array(docs)) = serde_json::from_slice::<Value>(data) else { return };
    let [original, patch] = docs.as_slice() else { return };
    if let Some(pod) = builtin_patch_meta("v1", "Pod") {
        let _ = apply(original, patch, &pod);
    }
    let _ = apply(original, patch, &NoPatchMeta);
});
