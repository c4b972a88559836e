//! Table tests in the spirit of upstream's `selector_test.go`, plus property tests.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn good_selectors_parse_and_print_canonically() {
    let cases = [
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("", ""),
        ("x!=a,y=b", "x!=a,y=b"),
        ("x=", "x="),
        ("x= ", "x="),
        ("x=,z= ", "x=,z="),
        ("x= ,z= ", "x=,z="),
        ("!x", "!x"),
        ("x>1", "x>1"),
        ("x>1,z<5", "x>1,z<5"),
        ("x in (a)", "x in (a)"),
        ("x in (b,a)", "x in (a,b)"),
        ("x notin (a)", "x notin (a)"),
        ("x in (a,,b)", "x in (,a,b)"),
        ("x in (,)", "x in ()"),
        ("x in ()", "x in ()"),
        ("  x  ", "x"),
        ("z,x==a", "x==a,z"),
        ("in in (in)", "in in (in)"),
        ("a.b/c-d_e=f", "a.b/c-d_e=f"),
        ("x\t=\na", "x=a"),
    ];
    for (input, want) in cases {
        let sel = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(sel.to_string(), want, "input {input:?}");
    }
}

#[test]
fn bad_selectors_report_upstream_errors() {
    let cases = [
        ("x==a==b", "found '==', expected: ',' or 'end of string'"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        (
            "x<a",
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (",", "found ',', expected: !, identifier, or 'end of string'"),
        ("x,", "found '', expected: identifier after ','"),
        ("x in a", "unable to parse requirement: found 'a' expected: '('"),
        ("x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
        ("x=(", "unable to parse requirement: found '(', expected: identifier"),
        ("x y", "unable to parse requirement: found 'y', expected: in, notin, =, ==, !=, gt, lt"),
        ("x (", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"),
    ];
    for (input, want) in cases {
        let err = LabelSelector::parse(input).expect_err(input);
        assert_eq!(err.to_string(), want, "input {input:?}");
    }
    let err = LabelSelector::parse("x=a||y=b").expect_err("bad value").to_string();
    assert!(err.starts_with("unable to parse requirement: values[0][x]: Invalid value: \"a||y\""), "{err}");
    let err = LabelSelector::parse("A@").expect_err("bad key").to_string();
    assert!(err.starts_with("unable to parse requirement: <nil>: Invalid value: \"A@\": name part must consist of alphanumeric characters"), "{err}");
    let err = LabelSelector::parse("a=b@").expect_err("bad value").to_string();
    assert!(
        err.starts_with("unable to parse requirement: values[0][a]: Invalid value: \"b@\": a valid label must be"),
        "{err}"
    );
}

#[test]
fn matching_follows_upstream_semantics() {
    let set = labels(&[("x", "a"), ("y", "b"), ("n", "5")]);
    let cases = [
        ("", true),
        ("x=a", true),
        ("x==a", true),
        ("x=b", false),
        ("x!=b", true),
        ("z!=b", true),
        ("x in (a,c)", true),
        ("x notin (a)", false),
        ("z notin (a)", true),
        ("z in (a)", false),
        ("x", true),
        ("z", false),
        ("!z", true),
        ("!x", false),
        ("n>4", true),
        ("n>5", false),
        ("n<6", true),
        ("x>1", false),
        ("z>1", false),
        ("x=a,y=b", true),
        ("x=a,y=c", false),
        ("z=", false),
    ];
    for (input, want) in cases {
        let sel = LabelSelector::parse(input).expect(input);
        assert_eq!(sel.matches(&set), want, "selector {input:?}");
    }
    assert!(!LabelSelector::nothing().matches(&set));
    assert!(LabelSelector::everything().matches(&set));
}

#[test]
fn exact_match_introspection() {
    let sel = LabelSelector::parse("a=1,b in (2),c in (3,4),d!=5").expect("valid");
    assert_eq!(sel.requires_exact_match("a"), Some("1"));
    assert_eq!(sel.requires_exact_match("b"), Some("2"));
    assert_eq!(sel.requires_exact_match("c"), None);
    assert_eq!(sel.requires_exact_match("d"), None);
    assert_eq!(sel.requires_exact_match("e"), None);
}

#[test]
fn structured_selectors() {
    assert!(from_structured(&json!(null)).expect("null").matches_nothing());
    assert!(from_structured(&json!({})).expect("empty").is_empty());
    let sel = from_structured(&json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["fe", "be"]},
            {"key": "legacy", "operator": "DoesNotExist"}
        ]
    }))
    .expect("valid");
    assert_eq!(sel.to_string(), "app=web,!legacy,tier in (be,fe)");
    assert!(sel.matches(&labels(&[("app", "web"), ("tier", "fe")])));
    assert!(!sel.matches(&labels(&[("app", "web"), ("tier", "fe"), ("legacy", "")])));

    let err = from_structured(&json!({"matchExpressions": [{"key": "a", "operator": "Gt"}]})).expect_err("bad op");
    assert_eq!(err.to_string(), "\"Gt\" is not a valid label selector operator");
    let err =
        from_structured(&json!({"matchExpressions": [{"key": "a", "operator": "In"}]})).expect_err("empty values");
    assert_eq!(err.to_string(), "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty");
    let err = from_structured(&json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}))
        .expect_err("values with exists");
    assert_eq!(
        err.to_string(),
        "values: Invalid value: [\"x\"]: values set must be empty for exists and does not exist"
    );
}

#[test]
fn json_map_labels() {
    let meta = json!({"app": "web", "n": 3});
    let map = meta.as_object().expect("object");
    assert!(LabelSelector::parse("app=web").expect("valid").matches(map));
    assert!(!LabelSelector::parse("n").expect("valid").matches(map));
}

fn key_strategy() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z]([a-z0-9._-]{0,6}[a-z0-9])?", "[a-z]{1,5}\\.[a-z]{2,3}/[A-Za-z][A-Za-z0-9]{0,5}",]
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[A-Za-z0-9]([A-Za-z0-9._-]{0,6}[A-Za-z0-9])?"]
}

fn requirement_strategy() -> impl Strategy<Value = String> {
    (key_strategy(), value_strategy(), proptest::collection::btree_set(value_strategy(), 1..4), 0..9u8, -50i64..50)
        .prop_map(|(k, v, vs, op, n)| {
            let vs: Vec<String> = vs.into_iter().collect();
            match op {
                0 => format!("{k}={v}"),
                1 => format!("{k}=={v}"),
                2 => format!("{k}!={v}"),
                3 => format!("{k} in ({})", vs.join(",")),
                4 => format!("{k} notin ({})", vs.join(",")),
                5 => k,
                6 => format!("!{k}"),
                7 => format!("{k}>{}", n.abs()),
                _ => format!("{k} < {}", n.abs()),
            }
        })
}

proptest! {
    #[test]
    fn parse_never_panics(s in "\\PC{0,40}") {
        let _ = LabelSelector::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_selector_alphabet(s in "[a-z=!(), <>\t0-9in]{0,30}") {
        let _ = LabelSelector::parse(&s);
    }

    #[test]
    fn canonical_form_round_trips(reqs in proptest::collection::vec(requirement_strategy(), 0..5)) {
        let input = reqs.join(",");
        let sel = LabelSelector::parse(&input).map_err(|e| TestCaseError::fail(format!("{input}: {e}")))?;
        let printed = sel.to_string();
        let again = LabelSelector::parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(again.to_string(), printed);
        prop_assert_eq!(again, sel);
    }

    #[test]
    fn from_set_matches_its_set(set in proptest::collection::btree_map(key_strategy(), value_strategy(), 0..5)) {
        let sel = LabelSelector::from_set(&set);
        prop_assert!(sel.matches(&set));
        let reparsed = LabelSelector::parse(&sel.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(reparsed.matches(&set));
    }
}
