//! Generates `src/generated_table.rs`, the message table the decoder walks. Run by hand:
//!
//! ```text
//! cargo fetch                      # puts k8s-pb's source in the cargo registry
//! cargo run -p canopy-protobuf --example generate [-- OUTPUT]
//! ```
//!
//! Inputs, all local: k8s-pb's prost source (tags, types; `K8S_PB_SRC` overrides where it is
//! looked for), k8s-openapi's schemars schemas (JSON names; the kinds served are listed in
//! `openapi.rs`), and a kubectl binary's Go type descriptors (pointer-ness and `omitempty`;
//! `KUBECTL` overrides the `kubectl` on `PATH`). It fails, listing every problem, when a
//! protobuf field matches no upstream JSON name or the sources disagree.

mod emit;
mod go_types;
mod model;
mod openapi;
mod prost_source;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Must equal the `k8s-pb` dev-dependency version in Cargo.toml.
const K8S_PB_VERSION: &str = "0.9.0";

fn k8s_pb_src() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("K8S_PB_SRC") {
        return Ok(PathBuf::from(dir));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    let registry = cargo_home.join("registry").join("src");
    let entries = std::fs::read_dir(&registry).map_err(|e| format!("{}: {e}", registry.display()))?;
    for entry in entries.flatten() {
        let candidate = entry.path().join(format!("k8s-pb-{K8S_PB_VERSION}")).join("src");
        if candidate.is_dir() {
            return Ok(candidate);
        }
    }
    Err(format!("k8s-pb-{K8S_PB_VERSION} not found under {} (run `cargo fetch`)", registry.display()))
}

fn kubectl() -> Result<PathBuf, String> {
    let path = match std::env::var_os("KUBECTL") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("kubectl")).find(|p| p.is_file()))
            .ok_or("kubectl not found on PATH (set KUBECTL)")?,
    };
    path.canonicalize().map_err(|e| format!("{}: {e}", path.display()))
}

fn kubectl_version(path: &Path) -> String {
    std::process::Command::new(path)
        .args(["version", "--client", "-o", "json"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split("\"gitVersion\": \"").nth(1).map(|v| v.split('"').next().unwrap_or_default().to_string()))
        .unwrap_or_else(|| "unknown version".to_string())
}

fn run() -> Result<(), String> {
    let output = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join("generated_table.rs"));
    let pb_src = k8s_pb_src()?;
    let prost = prost_source::parse_dir(&pb_src)?;
    let kubectl = kubectl()?;
    let binary = std::fs::read(&kubectl).map_err(|e| format!("{}: {e}", kubectl.display()))?;
    let go = go_types::read(&binary)?;
    let openapi = openapi::load();
    let table = model::build(&prost, &go, &openapi).map_err(|errors| errors.join("\n"))?;
    for line in &table.guessed {
        eprintln!("guessed zero handling: {line}");
    }
    for line in &table.skipped {
        eprintln!("skipped: {line}");
    }
    for line in &table.unmatched_properties {
        eprintln!("no protobuf field for: {line}");
    }
    let provenance = format!(
        "Sources: k8s-pb {K8S_PB_VERSION} (tags, types), k8s-openapi 0.29 v1_33 (JSON names),\n\
         kubectl {} Go type descriptors (pointer fields, omitempty).",
        kubectl_version(&kubectl)
    );
    let text = emit::render(&table, &provenance);
    std::fs::write(&output, text).map_err(|e| format!("{}: {e}", output.display()))?;
    eprintln!(
        "wrote {} messages, {} kinds to {} ({} fields with guessed zero handling)",
        table.messages.len(),
        table.kinds.len(),
        output.display(),
        table.guessed.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("generate: {e}");
            ExitCode::FAILURE
        }
    }
}
