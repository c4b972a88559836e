//! A request body of any content type, decoded and admitted as a Pod or a Deployment, never
//! panics the server (first byte picks the content type and kind, the rest is the body).
#![no_main]

use libfuzzer_sys::fuzz_target;

const TYPES: &[&str] = &["application/json", "application/yaml", "application/merge-patch+json"];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    let kind = if sel & 0x80 == 0 { "pods" } else { "deployments" };
    canopy_apiserver::fuzzing::decode_and_admit(TYPES[(sel & 0x7f) as usize % TYPES.len()], body, kind);
});
