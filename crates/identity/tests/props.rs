//! Hostile input never panics: arbitrary tokens, arbitrary kubeconfig text.

use std::time::{Duration, UNIX_EPOCH};

use canopy_identity::kubeconfig::Config;
use canopy_identity::{Subject, TokenIssuer, login_kubeconfig, logout_kubeconfig};
use proptest::prelude::*;
use serde_json::{Map, Value};

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/// Arbitrary JSON values, rendered as YAML below.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z:@.-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z-]{1,8}", inner), 0..5).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Kubeconfig-shaped documents with arbitrary values in the usual places.
fn kubeconfig_like() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "apiVersion",
        "kind",
        "clusters",
        "users",
        "contexts",
        "current-context",
        "preferences",
        "extensions",
        "name",
        "cluster",
        "user",
        "context",
        "token",
        "server",
        "namespace",
    ]);
    prop::collection::vec((key, value()), 0..8).prop_map(|kv| {
        let mut map = Map::new();
        for (k, v) in kv {
            let v = match v {
                Value::Object(_) if k.ends_with('s') => Value::Array(vec![v]),
                v => v,
            };
            map.insert(k.to_string(), v);
        }
        Value::Object(map)
    })
}

fn merge(existing: &str) {
    let namespaces = vec!["team-a".to_string()];
    if let Ok(yaml) = login_kubeconfig(Some(existing), "https://10.0.0.1:6443", CA, "alice", "tok", &namespaces, None) {
        let config = Config::parse(&yaml).expect("our own output parses");
        assert!(config.context("team-a").is_some());
        let out = logout_kubeconfig(&yaml, "alice@canopy-10.0.0.1-6443").expect("logout of our output");
        assert!(Config::parse(&out).is_ok());
    }
    let _ = logout_kubeconfig(existing, "alice@canopy-10.0.0.1-6443");
}

proptest! {
    #[test]
    fn token_verify_never_panics(token in ".{0,300}") {
        let issuer = TokenIssuer::new([9; 32]);
        let _ = issuer.verify(&token, UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let _ = issuer.verify(&format!("canopy.{token}"), UNIX_EPOCH);
    }

    #[test]
    fn token_verify_refuses_every_altered_token(pos in 0usize..1000, byte in 0x21u8..0x7f) {
        let issuer = TokenIssuer::new([9; 32]);
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let issued = issuer.issue(&Subject::new("alice", ["devs"]), Duration::from_secs(60), now);
        let mut bytes = issued.token.clone().into_bytes();
        let pos = pos % bytes.len();
        prop_assume!(bytes[pos] != byte);
        bytes[pos] = byte;
        let altered = String::from_utf8(bytes).expect("ascii");
        // The base64 decoder also refuses non-canonical trailing bits, so no change goes unnoticed.
        prop_assert!(issuer.verify(&altered, now).is_err(), "{} verified", altered);
    }

    #[test]
    fn kubeconfig_merge_never_panics_on_arbitrary_text(text in ".{0,400}") {
        merge(&text);
    }

    #[test]
    fn kubeconfig_merge_never_panics_on_arbitrary_yaml(doc in kubeconfig_like()) {
        merge(&serde_saphyr::to_string(&doc).expect("YAML of a JSON value"));
        merge(&serde_json::to_string(&doc).expect("JSON"));
    }
}
