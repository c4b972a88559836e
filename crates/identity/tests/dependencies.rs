//! canopy-identity is a leaf: it depends on no other workspace crate, so the API server and the
//! CLI (a client that must not link the server or the store) can both use it.

#[test]
fn depends_on_no_workspace_crate() {
    let manifest = include_str!("../Cargo.toml");
    let mut section = "";
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if section.contains("dependencies") {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            assert!(!name.starts_with("canopy"), "{section} names the workspace crate {name}");
            assert!(!line.contains("path"), "{section} has a path dependency: {line}");
        }
    }
}
