//! Field selector parsing never panics, and printing then reparsing is stable.
#![no_main]

use canopy_machinery::FieldSelector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Ok(sel) = FieldSelector::parse(data) {
        let printed = sel.to_string();
        let again = FieldSelector::parse(&printed).expect("printed form reparses");
        assert_eq!(again.to_string(), printed);
        let _ = sel.matches(|f| Some(f.to_string()));
    }
});
