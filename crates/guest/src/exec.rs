//! `exec` in the guest: `container-exec` enters the container and runs the command, with pipes
//! or on a pseudo-terminal the guest opens; the request and response bodies carry
//! [`Frame`]s both ways.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use canopy_guest::protocol::{ExecSpec, Frame, FrameDecoder};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{Winsize, tcsetwinsize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::containers::{Container, Failure};
use crate::port::Port;

pub type Output = mpsc::Receiver<Bytes>;

/// Reads frames off the request body until `Start`.
async fn read_start(body: &mut Incoming, decoder: &mut FrameDecoder) -> Result<ExecSpec, Failure> {
    loop {
        if let Some(frame) = decoder.next_frame().map_err(|e| Failure::bad(e.to_string()))? {
            return match frame {
                Frame::Start(spec) => Ok(spec),
                other => Err(Failure::bad(format!("exec must begin with Start, not {other:?}"))),
            };
        }
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    decoder.push(data);
                }
            }
            Some(Err(e)) => return Err(Failure::bad(format!("reading the exec request: {e}"))),
            None => return Err(Failure::bad("the exec request ended before Start")),
        }
    }
}

fn open_pty() -> std::io::Result<(OwnedFd, std::fs::File)> {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let slave = std::fs::OpenOptions::new().read(true).write(true).open(OsStr::from_bytes(name.as_bytes()))?;
    Ok((master, slave))
}

/// Starts the command; returns the stream of response frames.
pub async fn run(container: Arc<Container>, mut body: Incoming) -> Result<Output, Failure> {
    let mut decoder = FrameDecoder::default();
    let spec = read_start(&mut body, &mut decoder).await?;
    if spec.command.is_empty() {
        return Err(Failure::bad("no command to run"));
    }
    if container.exited() {
        return Err(Failure(http::StatusCode::CONFLICT, "the container is not running".into()));
    }
    let exe = std::env::current_exe().map_err(|e| Failure::internal(format!("finding canopy-guest: {e}")))?;
    let mut command = tokio::process::Command::new(exe);
    command.arg("container-exec").arg(&container.dir);
    if spec.tty {
        command.arg("--tty");
    }
    command.arg("--").args(&spec.command).kill_on_drop(true);
    let spawn_failed = |e: std::io::Error| Failure::internal(format!("starting the command: {e}"));

    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let mut child;
    let stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>;
    let mut master_fd = None;
    let mut pumps = Vec::new();
    if spec.tty {
        let (master, slave) = open_pty().map_err(spawn_failed)?;
        let clone = |f: &std::fs::File| f.try_clone().map_err(spawn_failed);
        command.stdin(clone(&slave)?).stdout(clone(&slave)?).stderr(slave);
        child = command.spawn().map_err(spawn_failed)?;
        drop(command);
        let writer = Port::from_fd(master.try_clone().map_err(spawn_failed)?).map_err(spawn_failed)?;
        let reader = Port::from_fd(master.try_clone().map_err(spawn_failed)?).map_err(spawn_failed)?;
        master_fd = Some(master);
        stdin = spec.stdin.then(|| Box::new(writer) as Box<dyn AsyncWrite + Send + Unpin>);
        pumps.push(tokio::spawn(pump(reader, tx.clone(), Frame::Stdout)));
    } else {
        command.stdin(if spec.stdin { Stdio::piped() } else { Stdio::null() });
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        child = command.spawn().map_err(spawn_failed)?;
        stdin = child.stdin.take().map(|s| Box::new(s) as Box<dyn AsyncWrite + Send + Unpin>);
        if let Some(out) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(out, tx.clone(), Frame::Stdout)));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(err, tx.clone(), Frame::Stderr)));
        }
    }
    tokio::spawn(feed(body, decoder, stdin, master_fd));
    tokio::spawn(async move {
        let code = tokio::select! {
            status = child.wait() => match status {
                Ok(status) => crate::stage::exit_code(status),
                Err(_) => 128,
            },
            // The caller went away: `kill_on_drop` ends the command.
            () = tx.closed() => return,
        };
        // The output written before the exit goes first.
        for pump in pumps {
            let _ = pump.await;
        }
        let _ = tx.send(Frame::Exit(code).encode()).await;
    });
    Ok(rx)
}

/// Copies one output stream into frames until it ends (a terminal ends with EIO once the
/// command and everything holding the terminal is gone).
async fn pump(mut from: impl AsyncRead + Unpin, tx: mpsc::Sender<Bytes>, frame: fn(Bytes) -> Frame) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || tx.send(frame(Bytes::copy_from_slice(&buf[..n])).encode()).await.is_err() {
            break;
        }
    }
}

/// Applies the caller's frames: input, its end, terminal size changes.
async fn feed(
    mut body: Incoming,
    mut decoder: FrameDecoder,
    mut stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    master: Option<OwnedFd>,
) {
    loop {
        while let Ok(Some(frame)) = decoder.next_frame() {
            match frame {
                Frame::Stdin(data) => {
                    if let Some(w) = stdin.as_mut()
                        && w.write_all(&data).await.is_err()
                    {
                        stdin = None;
                    }
                }
                Frame::StdinClosed => {
                    if let Some(mut w) = stdin.take() {
                        let _ = w.shutdown().await;
                    }
                }
                Frame::Resize { cols, rows } => {
                    if let Some(master) = &master {
                        let size = Winsize { ws_col: cols, ws_row: rows, ws_xpixel: 0, ws_ypixel: 0 };
                        let _ = tcsetwinsize(master, size);
                    }
                }
                _ => {}
            }
        }
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    decoder.push(data);
                }
            }
            _ => return,
        }
    }
}
