//! Field selector parsing never panics, and printing then reparsing gives the same terms
//! (as a set: upstream sorts source terms, so the printed order may differ).
#![no_main]

use canopy_machinery::FieldSelector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    if let Ok(sel) = FieldSelector::parse(data) {
        let printed = sel.to_string();
        let again = FieldSelector::parse(&printed).expect("printed form reparses");
        let sorted = |s: &FieldSelector| {
            let mut t: Vec<String> = s.terms().iter().map(ToString::to_string).collect();
            t.sort();
            t
        };
        assert_eq!(sorted(&again), sorted(&sel));
        let _ = sel.matches(|f| Some(f.to_string()));
    }
});
