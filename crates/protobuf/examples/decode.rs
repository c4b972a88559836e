//! Prints the JSON for a Kubernetes protobuf body: `cargo run -p canopy-protobuf --example decode -- FILE`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: decode FILE");
        return ExitCode::FAILURE;
    };
    let decoded = std::fs::read(&path).map_err(|e| e.to_string()).and_then(|body| {
        let mut chain = String::new();
        canopy_protobuf::decode(&body).map_err(|e| {
            let mut source: Option<&dyn std::error::Error> = Some(&e);
            while let Some(s) = source {
                chain.push_str(&format!("{s}; "));
                source = s.source();
            }
            chain
        })
    });
    match decoded {
        Ok(json) => {
            println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            ExitCode::FAILURE
        }
    }
}
