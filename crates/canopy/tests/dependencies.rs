//! The dependency direction between workspace crates, checked on every Cargo.toml
//! (bottom crates know nothing of the server; clients never link the store or the server).

use std::collections::BTreeMap;
use std::path::Path;

/// Workspace crates each crate's `[dependencies]` names.
fn workspace_deps(manifest: &str) -> Vec<String> {
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps
            && let Some(name) = line.split(['=', '.', ' ']).next()
            && name.starts_with("canopy")
        {
            deps.push(name.to_string());
        }
    }
    deps
}

fn package_name(manifest: &str) -> Option<String> {
    manifest.lines().find_map(|l| l.trim().strip_prefix("name = ").map(|n| n.trim_matches('"').to_string()))
}

#[test]
fn crates_depend_downwards_only() {
    let crates_dir = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crates/");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(crates_dir).expect("crates dir") {
        let manifest = entry.expect("entry").path().join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest)
            && let Some(name) = package_name(&text)
        {
            graph.insert(name, workspace_deps(&text));
        }
    }
    assert!(graph.contains_key("canopy-store") && graph.contains_key("canopy-apiserver"), "{graph:?}");
    // Leaf crates: types, algorithms and codecs with no workspace dependencies.
    for leaf in
        ["canopy-store", "canopy-machinery", "canopy-protobuf", "canopy-rbac", "canopy-identity", "canopy-guest"]
    {
        if let Some(deps) = graph.get(leaf) {
            assert!(deps.is_empty(), "{leaf} must not depend on other workspace crates: {deps:?}");
        }
    }
    // Only the server (and the binaries that start it) may link the server or the store.
    let may_link_server = ["canopy-apiserver", "canopy", "canopy-bench"];
    for (name, deps) in &graph {
        for forbidden in ["canopy-apiserver", "canopy-store"] {
            if deps.iter().any(|d| d == forbidden) {
                assert!(
                    may_link_server.contains(&name.as_str()),
                    "{name} is a client and must not depend on {forbidden}"
                );
            }
        }
    }
}
