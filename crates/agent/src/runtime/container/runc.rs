//! Driving `runc`. Each container runs under a small `sh` waiter in its own process group:
//! `runc run` stays in the foreground, so its exit status is the container's, and the waiter
//! writes it to the bundle's `exitcode` file. The status survives the agent (a restarted agent
//! reads the file), and no process of the agent has to stay around per container.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use tokio::process::Command;

use super::ids::RuncId;
use super::mtime;
use crate::runtime::{ContainerState, RuntimeError, RuntimeResult};

/// How long a container may take from `runc run` to a running process.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(25);

/// `$1` is the bundle, `$2` the container ID. The status is written aside and renamed so a
/// reader never sees a half-written number.
const WAITER: &str = r#"runc run --bundle "$1" --pid-file "$1/pid" "$2" </dev/null
echo $? >"$1/exitcode.tmp" && mv "$1/exitcode.tmp" "$1/exitcode""#;

/// runc's version (`1.1.5`), from `runc --version`.
pub(super) fn version() -> Option<String> {
    let out = std::process::Command::new("runc").arg("--version").stdin(Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next()?.strip_prefix("runc version ").map(|v| v.trim().to_string())
}

/// Starts the container and waits until its process exists (or runc gave up on it).
pub(super) async fn start(id: &RuncId, bundle: &Path, log: &Path) -> Result<(), String> {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("opening {}: {e}", log.display()))?;
    let stderr = log_file.try_clone().map_err(|e| format!("opening {}: {e}", log.display()))?;
    let child = Command::new("sh")
        .arg("-c")
        .arg(WAITER)
        .arg("sh")
        .arg(bundle)
        .arg(id.runc())
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file))
        .stderr(Stdio::from(stderr))
        // Its own process group: a Ctrl-C or SIGTERM to the agent's group must not reach it.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting runc: {e}"))?;
    // Dropping tokio's Child leaves the process running and tokio reaps it when it exits.
    drop(child);
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        let created = bundle.join("pid").exists();
        if exited(bundle) {
            // Exited before runc wrote the pid file: the container never ran.
            return if created { Ok(()) } else { Err(last_lines(log)) };
        }
        if created {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = kill(id, "KILL").await;
            return Err(format!("container did not start within {START_TIMEOUT:?}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn last_lines(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    let message = lines.into_iter().rev().collect::<Vec<_>>().join("\n");
    if message.is_empty() { "runc failed without a message".into() } else { message }
}

/// Whether the waiter recorded the container's exit.
pub(super) fn exited(bundle: &Path) -> bool {
    bundle.join("exitcode").exists()
}

/// Waits up to `timeout` for the container's exit to be recorded.
pub(super) async fn wait_exit(bundle: &Path, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while !exited(bundle) {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    true
}

/// Running until the exit file appears; then `Exited` with its code and times.
pub(super) async fn state(id: &RuncId, bundle: &Path) -> RuntimeResult<ContainerState> {
    if !bundle.join("config.json").exists() {
        return Err(RuntimeError::NotFound(id.container_id()));
    }
    let started_at =
        mtime(&bundle.join("pid")).or_else(|| mtime(&bundle.join("config.json"))).unwrap_or(SystemTime::UNIX_EPOCH);
    if let Some(state) = exit_state(bundle, started_at) {
        return Ok(state);
    }
    if runc_status(id).await.is_some_and(|s| s != "stopped") {
        return Ok(ContainerState::Running { started_at });
    }
    // runc knows no running process: either the waiter is about to write the status, or it
    // was lost (a host reboot), in which case no status will ever come.
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(exit_state(bundle, started_at).unwrap_or(ContainerState::Exited {
        exit_code: 255,
        reason: "Unknown".into(),
        started_at,
        finished_at: SystemTime::now(),
    }))
}

fn exit_state(bundle: &Path, started_at: SystemTime) -> Option<ContainerState> {
    let path = bundle.join("exitcode");
    let code = std::fs::read_to_string(&path).ok()?;
    let exit_code: i32 = code.trim().parse().unwrap_or(255);
    Some(ContainerState::Exited {
        exit_code,
        reason: if exit_code == 0 { "Completed".into() } else { "Error".into() },
        started_at,
        finished_at: mtime(&path).unwrap_or_else(SystemTime::now),
    })
}

async fn runc_status(id: &RuncId) -> Option<String> {
    let out = Command::new("runc").args(["state", &id.runc()]).stdin(Stdio::null()).output().await.ok()?;
    if !out.status.success() {
        return None;
    }
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    state["status"].as_str().map(str::to_string)
}

/// `runc kill ID SIGNAL`.
pub(super) async fn kill(id: &RuncId, signal: &str) -> Result<(), String> {
    runc(&["kill", &id.runc(), signal]).await
}

/// `runc delete --force ID`; a container runc does not know is already deleted.
pub(super) async fn delete(id: &RuncId) -> Result<(), String> {
    match runc(&["delete", "--force", &id.runc()]).await {
        Err(e) if e.contains("does not exist") => Ok(()),
        other => other,
    }
}

async fn runc(args: &[&str]) -> Result<(), String> {
    let out = Command::new("runc")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("running runc: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("runc {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}
