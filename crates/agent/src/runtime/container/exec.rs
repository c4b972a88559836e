//! `kubectl exec` and exec probes: `runc exec` in the running container, with pipes or a
//! terminal. For a terminal, `runc exec --tty` makes the command's terminal inside the container
//! and relays it to its own, a pseudo-terminal the agent opens; `setsid --ctty` makes that
//! runc's controlling terminal, so a resize (SIGWINCH) reaches runc, which passes it on.
//! (`--console-socket` would spare the relay, but runc only honours it when detached, and a
//! detached runc cannot report the command's exit status.) `runc exec` reuses the container's environment, working
//! directory, user and capabilities.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};
use tokio::process::Command;

use super::ids::RuncId;
use crate::runtime::{ExecProcess, ExecRequest, Exit, Reader, RuntimeError, RuntimeResult, Writer};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Kills the command (not only runc) when the caller goes away before it ends: runc forwards
/// signals it can catch, but a killed runc would leave the command running in the container.
struct KillOnDrop {
    pid_file: PathBuf,
    done: bool,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if !self.done
            && let Some(pid) = std::fs::read_to_string(&self.pid_file)
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
                .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::Other(format!("{what}: {e}"))
}

/// A pseudo-terminal: the agent keeps `master`, runc gets `slave`.
fn open_pty() -> std::io::Result<(OwnedFd, std::fs::File)> {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(name.as_bytes()));
    let slave = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
    Ok((master, slave))
}

pub(super) async fn exec(id: &RuncId, bundle: &Path, request: ExecRequest) -> RuntimeResult<ExecProcess> {
    if request.command.is_empty() {
        return Err(RuntimeError::Other("no command given".into()));
    }
    if super::runc::exited(bundle) || !bundle.join("pid").exists() {
        return Err(RuntimeError::Other(format!("container {} is not running", id.container_id())));
    }
    let pid_file = bundle.join(format!("exec-{}.pid", NEXT.fetch_add(1, Ordering::Relaxed)));
    if request.tty {
        let (master, slave) = open_pty().map_err(io_err("opening a terminal"))?;
        let out = slave.try_clone().map_err(io_err("opening a terminal"))?;
        let err = slave.try_clone().map_err(io_err("opening a terminal"))?;
        let mut cmd = Command::new("setsid");
        cmd.args(["--ctty", "runc", "exec", "--tty", "--pid-file"])
            .arg(&pid_file)
            .arg(id.runc())
            .args(&request.command);
        cmd.kill_on_drop(true);
        cmd.stdin(Stdio::from(slave)).stdout(Stdio::from(out)).stderr(Stdio::from(err));
        let child = cmd.spawn().map_err(io_err("starting runc exec"))?;
        // runc holds the terminal's other end now; ours closed with `cmd`.
        drop(cmd);
        let guard = KillOnDrop { pid_file, done: false };
        let resize_fd = master.try_clone().map_err(io_err("opening a terminal"))?;
        // Separate files for the two directions: one tokio `File` has one operation in flight,
        // so a write (or the flush of stdin's close) would wait for the pending read of the
        // output and then drop what it read, as a terminal cannot seek back to it.
        let input = master.try_clone().map_err(io_err("opening a terminal"))?;
        let reader = tokio::fs::File::from_std(std::fs::File::from(master));
        let writer = tokio::fs::File::from_std(std::fs::File::from(input));
        return Ok(ExecProcess {
            stdin: request.stdin.then(|| Box::pin(writer) as Writer),
            stdout: Box::pin(reader),
            stderr: None,
            resize: Some(Box::new(move |cols, rows| {
                let size = Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
                let _ = tcsetwinsize(resize_fd.as_fd(), size);
            })),
            exit: wait(child, guard),
        });
    }
    let mut cmd = Command::new("runc");
    cmd.args(["exec", "--pid-file"]).arg(&pid_file).arg(id.runc()).args(&request.command);
    cmd.kill_on_drop(true);
    cmd.stdin(if request.stdin { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(io_err("starting runc exec"))?;
    let guard = KillOnDrop { pid_file, done: false };
    let stdin = child.stdin.take().map(|w| Box::pin(w) as Writer);
    let stdout: Reader = Box::pin(child.stdout.take().ok_or_else(|| RuntimeError::Other("no stdout".into()))?);
    let stderr: Reader = Box::pin(child.stderr.take().ok_or_else(|| RuntimeError::Other("no stderr".into()))?);
    Ok(ExecProcess { stdin, stdout, stderr: Some(stderr), resize: None, exit: wait(child, guard) })
}

/// The command's exit status once runc reports it; until then `guard` kills it if dropped.
fn wait(mut child: tokio::process::Child, guard: KillOnDrop) -> Exit {
    Box::pin(async move {
        // The whole guard moves into the future (a field assignment alone would capture only
        // the field, and the guard would kill the command at once).
        let mut guard = guard;
        let status = child.wait().await.map_err(io_err("waiting for runc exec"))?;
        guard.done = true;
        Ok(exit_code(status))
    })
}

/// The command's status as a shell reports it: its code, or 128 + the signal that ended it.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(255)
}

/// Connects to `ip:port` from inside the network namespace `netns` (a path under /run/netns).
/// A socket stays in the namespace it was made in, so a short-lived thread enters the
/// namespace, connects and hands the connection back; no agent thread ever changes namespace.
pub(crate) async fn dial(netns: PathBuf, ip: std::net::Ipv4Addr, port: u16) -> RuntimeResult<tokio::net::TcpStream> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("canopy-dial".into())
        .spawn(move || {
            let result = (|| -> std::io::Result<std::net::TcpStream> {
                let ns = std::fs::File::open(&netns)?;
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                let stream = std::net::TcpStream::connect_timeout(
                    &std::net::SocketAddr::from((ip, port)),
                    std::time::Duration::from_secs(10),
                )?;
                stream.set_nonblocking(true)?;
                Ok(stream)
            })();
            let _ = tx.send(result);
        })
        .map_err(io_err("starting a thread"))?;
    let stream = rx
        .await
        .map_err(|_| RuntimeError::Other("the dialing thread ended".into()))?
        .map_err(|e| RuntimeError::Other(format!("dial tcp {ip}:{port}: {e}")))?;
    tokio::net::TcpStream::from_std(stream).map_err(io_err("registering a connection"))
}
