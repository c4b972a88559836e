//! `/exec/{namespace}/{pod}/{container}?command=..&stdin=true&stdout=true&stderr=true&tty=true`:
//! a command in a running container over a WebSocket, framed as kubectl expects: each binary
//! message starts with its stream (0 stdin, 1 stdout, 2 stderr, 3 the final Status, 4 terminal
//! size as `{"Width":..,"Height":..}`, and in v5 255 = "this stream is closed").

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{Refusal, bad_request, container_id, find_pod, flag, query_pairs};
use crate::host::Host;
use crate::runtime::{ExecProcess, ExecRequest, Reader, RuntimeError};

const V5: &str = "v5.channel.k8s.io";
const V4: &str = "v4.channel.k8s.io";
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;
/// After the command exits, how long output still in flight is waited for (a background
/// process may hold the terminal open forever).
const DRAIN: Duration = Duration::from_secs(2);

pub(super) async fn exec(
    State(host): State<Arc<Host>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Refusal> {
    let pairs = query_pairs(raw.as_deref());
    let command: Vec<String> = pairs.iter().filter(|(k, _)| k == "command").map(|(_, v)| v.clone()).collect();
    if command.is_empty() {
        return Err(bad_request("you must specify at least one command for the container".into()));
    }
    let (stdin, stdout, stderr, tty) =
        (flag(&pairs, "stdin"), flag(&pairs, "stdout"), flag(&pairs, "stderr"), flag(&pairs, "tty"));
    if !stdin && !stdout && !stderr {
        return Err(bad_request("you must specify at least one of stdin, stdout, stderr".into()));
    }
    let pod = find_pod(&host, &namespace, &pod)?;
    let id = container_id(&pod, &container, false)?;
    let Ok(upgrade) = upgrade else {
        return Err(bad_request(format!(
            "exec is served over WebSocket ({V5} or {V4}) only; SPDY is not supported (kubectl 1.30 or newer uses WebSocket)"
        )));
    };
    let upgrade = upgrade.protocols([V5, V4]);
    let Some(protocol) = upgrade.selected_protocol().and_then(|p| p.to_str().ok()).map(str::to_string) else {
        return Err(bad_request(format!("exec needs the WebSocket subprotocol {V5} or {V4}")));
    };
    let process = host.runtime().exec(&id, ExecRequest { command, tty, stdin }).await.map_err(|e| match e {
        RuntimeError::NotFound(_) => Refusal(StatusCode::NOT_FOUND, e.to_string()),
        RuntimeError::Unsupported(_) => bad_request(e.to_string()),
        _ => Refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("unable to start the command: {e}")),
    })?;
    let streams = Streams { stdout, stderr, v5: protocol == V5 };
    Ok(upgrade.on_upgrade(move |socket| session(socket, process, streams)))
}

/// Which output streams the caller asked for, and whether it speaks v5.
struct Streams {
    stdout: bool,
    stderr: bool,
    v5: bool,
}

fn framed(channel: u8, data: &[u8]) -> Message {
    let mut frame = Vec::with_capacity(data.len() + 1);
    frame.push(channel);
    frame.extend_from_slice(data);
    Message::Binary(Bytes::from(frame))
}

/// Forwards one output stream into `tx` as frames of `channel` until it ends. A terminal's end
/// reads as an error (EIO) once the command is gone; that is its end too.
fn forward(mut reader: Reader, channel: u8, tx: mpsc::Sender<Message>) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 || tx.send(framed(channel, &buf[..n])).await.is_err() {
                break;
            }
        }
    });
}

/// The Status kubectl reads on the error stream when the command ends.
fn exit_status(result: Result<i32, RuntimeError>) -> serde_json::Value {
    match result {
        Ok(0) => json!({"metadata": {}, "status": "Success"}),
        Ok(code) => json!({
            "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": format!("command terminated with non-zero exit code: exit status {code}"),
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Err(e) => json!({"metadata": {}, "status": "Failure", "reason": "InternalError", "message": e.to_string()}),
    }
}

async fn session(socket: WebSocket, process: ExecProcess, streams: Streams) {
    let ExecProcess { mut stdin, stdout, stderr, resize, mut exit } = process;
    let (mut sink, mut incoming) = socket.split();
    let (tx, mut output) = mpsc::channel::<Message>(16);
    if streams.stdout {
        forward(stdout, STDOUT, tx.clone());
    }
    if let (Some(err), true) = (stderr, streams.stderr) {
        forward(err, STDERR, tx.clone());
    }
    drop(tx);
    let mut result = None;
    let mut outputs_open = true;
    let drain = tokio::time::sleep(Duration::MAX);
    tokio::pin!(drain);
    loop {
        tokio::select! {
            frame = output.recv(), if outputs_open => match frame {
                Some(frame) => {
                    if sink.send(frame).await.is_err() {
                        return;
                    }
                }
                None => outputs_open = false,
            },
            code = &mut exit, if result.is_none() => {
                result = Some(code);
                drain.as_mut().reset(tokio::time::Instant::now() + DRAIN);
            },
            () = &mut drain => outputs_open = false,
            message = incoming.next() => match message {
                Some(Ok(Message::Binary(data))) => match data.split_first() {
                    Some((&STDIN, rest)) => {
                        if let Some(w) = stdin.as_mut()
                            && (w.write_all(rest).await.is_err() || w.flush().await.is_err())
                        {
                            stdin = None;
                        }
                    }
                    Some((&RESIZE, rest)) => {
                        if let (Some(resize), Ok(size)) = (&resize, serde_json::from_slice::<serde_json::Value>(rest)) {
                            let dim = |k: &str| size[k].as_u64().and_then(|v| u16::try_from(v).ok()).unwrap_or(0);
                            resize(dim("Width"), dim("Height"));
                        }
                    }
                    Some((&CLOSE, [STDIN])) if streams.v5 => {
                        if let Some(mut w) = stdin.take() {
                            let _ = w.shutdown().await;
                        }
                    }
                    _ => {}
                },
                // The caller left: dropping the process ends the command.
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
        if !outputs_open && let Some(code) = result.take() {
            let status = exit_status(code);
            let _ = sink.send(framed(ERROR, status.to_string().as_bytes())).await;
            // A normal closure (1000): kubectl reads anything else as a broken stream.
            let close = CloseFrame { code: axum::extract::ws::close_code::NORMAL, reason: "".into() };
            let _ = sink.send(Message::Close(Some(close))).await;
            return;
        }
    }
}
