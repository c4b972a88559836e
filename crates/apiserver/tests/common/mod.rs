//! Test harness: a real server on an ephemeral loopback port, and the real kubectl against it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use canopy_apiserver::{RunningServer, ServerConfig};

pub struct TestServer {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
    /// Each test has its own HOME so kubectl's discovery cache is never shared.
    pub home: PathBuf,
}

pub async fn start() -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = canopy_apiserver::start(ServerConfig {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().expect("addr"),
        extra_sans: vec![],
    })
    .await
    .expect("server starts");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    TestServer { server, dir, home }
}

pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl TestServer {
    pub fn kubeconfig(&self) -> &Path {
        &self.server.kubeconfig
    }

    /// Runs a kubectl binary (`kubectl` is the version dispatcher; `kubectl.1.31` a fixed minor).
    pub fn kubectl_bin(&self, bin: &str, args: &[&str], stdin: Option<&str>) -> Out {
        use std::io::Write;
        let mut cmd = Command::new(resolve_kubectl(bin));
        cmd.env("HOME", &self.home)
            .env("KUBECONFIG", self.kubeconfig())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("running {bin}: {e}"));
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        drop(pipe);
        let out = child.wait_with_output().expect("kubectl finishes");
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn kubectl(&self, args: &[&str]) -> Out {
        self.kubectl_bin("kubectl", args, None)
    }

    pub fn kubectl_in(&self, args: &[&str], stdin: &str) -> Out {
        self.kubectl_bin("kubectl", args, Some(stdin))
    }

    /// Runs kubectl and fails the test with its output when it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(out.ok, "kubectl {args:?} failed:\nstdout: {}\nstderr: {}", out.stdout, out.stderr);
        out.stdout
    }

    pub fn ok_in(&self, args: &[&str], stdin: &str) -> String {
        let out = self.kubectl_in(args, stdin);
        assert!(out.ok, "kubectl {args:?} failed:\nstdout: {}\nstderr: {}", out.stdout, out.stderr);
        out.stdout
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(!out.ok, "kubectl {args:?} unexpectedly succeeded:\n{}", out.stdout);
        out.stderr
    }

    /// A kube-rs client trusting this server's CA.
    pub async fn client(&self) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::read_from(self.kubeconfig()).expect("kubeconfig parses");
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.expect("kube config");
        kube::Client::try_from(config).expect("kube client")
    }
}

/// `kubectl` is the dispatcher on PATH; the fixed minors (`kubectl.1.31`) sit beside its target.
pub fn resolve_kubectl(bin: &str) -> PathBuf {
    if bin == "kubectl" {
        return PathBuf::from(bin);
    }
    let dispatcher = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("kubectl"))
        .find(|p| p.exists())
        .expect("kubectl on PATH");
    let real = std::fs::canonicalize(&dispatcher).expect("kubectl resolves");
    real.parent().expect("kubectl has a directory").join(bin)
}

/// Polls `check` (in a blocking-friendly way) until it returns true or ~20 s pass.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}
