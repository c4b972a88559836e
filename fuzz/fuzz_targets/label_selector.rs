//! Label selector parsing never panics, and the canonical form of a parsed selector reparses
//! to the same selector.
#![no_main]

use canopy_machinery::LabelSelector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Ok(sel) = LabelSelector::parse(data) {
        let printed = sel.to_string();
        let again = LabelSelector::parse(&printed).expect("canonical form reparses");
        assert_eq!(again.to_string(), printed);
    }
});
