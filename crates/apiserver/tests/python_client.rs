//! Compatibility: the official Kubernetes Python client (`pip install kubernetes`).
//! `.ci/run` installs it in a virtualenv and points `CANOPY_PYTHON` at its interpreter.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn official_python_client() {
    let t = common::start().await;
    let python = std::env::var("CANOPY_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client_smoke.py");
    let kubeconfig = t.kubeconfig().to_path_buf();
    let out =
        tokio::task::spawn_blocking(move || std::process::Command::new(&python).arg(script).arg(kubeconfig).output())
            .await
            .expect("join")
            .expect("python runs (set CANOPY_PYTHON to an interpreter with `pip install kubernetes`)");
    assert!(
        out.status.success(),
        "python client failed (needs `pip install kubernetes`; .ci/run provides it):\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
