//! `GET /containerLogs/{namespace}/{pod}/{container}`: a container's output from the file its
//! runtime keeps, with `tailLines`, `limitBytes`, `previous` and `follow` (streams until the
//! container exits or the caller leaves).

use std::io::SeekFrom;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_stream::wrappers::ReceiverStream;

use super::{Refusal, bad_request, container_id, find_pod, flag, query_pairs, value};
use crate::host::Host;
use crate::runtime::{ContainerState, Runtime};

const CHUNK: usize = 32 * 1024;
/// How often a followed file is checked for more output.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// How often, while following, the container is asked whether it still runs.
const STATE_EVERY: u32 = 10;

struct Options {
    follow: bool,
    previous: bool,
    tail_lines: Option<u64>,
    limit_bytes: Option<u64>,
}

fn options(raw: Option<&str>) -> Result<Options, Refusal> {
    let pairs = query_pairs(raw);
    let number = |key: &str| -> Result<Option<u64>, Refusal> {
        value(&pairs, key)
            .map(|v| {
                v.parse::<u64>().map_err(|_| bad_request(format!("{key}: invalid value {v:?}: must be a whole number")))
            })
            .transpose()
    };
    // Per-line times are not recorded by the runtimes' log files; refuse rather than invent them.
    for unsupported in ["timestamps", "sinceSeconds", "sinceTime"] {
        if value(&pairs, unsupported).is_some_and(|v| v != "false") {
            return Err(bad_request(format!(
                "{unsupported} is not supported: this host's logs carry no per-line times"
            )));
        }
    }
    Ok(Options {
        follow: flag(&pairs, "follow"),
        previous: flag(&pairs, "previous"),
        tail_lines: number("tailLines")?,
        limit_bytes: number("limitBytes")?,
    })
}

pub(super) async fn logs(
    State(host): State<Arc<Host>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Refusal> {
    let opts = options(raw.as_deref())?;
    let pod = find_pod(&host, &namespace, &pod)?;
    let id = container_id(&pod, &container, opts.previous)?;
    let runtime = host.runtime().clone();
    let path = runtime
        .log_path(&id)
        .ok_or_else(|| bad_request(format!("container \"{container}\" has no logs on this host")))?;
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("opening the log: {e}")))?;
    let start = match opts.tail_lines {
        Some(n) => tail_offset(&mut file, n).await,
        None => Ok(0),
    }
    .map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("reading the log: {e}")))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(pump(file, start, opts, runtime, id, tx));
    let body = Body::from_stream(ReceiverStream::new(rx));
    Ok(([(header::CONTENT_TYPE, "text/plain")], body).into_response())
}

/// Sends the file from `start`, then (following) whatever is appended until the container has
/// exited and its output is read, or the caller is gone.
async fn pump(
    mut file: tokio::fs::File,
    start: u64,
    opts: Options,
    runtime: Arc<dyn Runtime>,
    id: String,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    if file.seek(SeekFrom::Start(start)).await.is_err() {
        return;
    }
    let mut left = opts.limit_bytes.unwrap_or(u64::MAX);
    let mut buf = vec![0u8; CHUNK];
    let mut idle: u32 = 0;
    let mut exited = false;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match file.read(&mut buf[..want]).await {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        if n > 0 {
            idle = 0;
            left -= n as u64;
            if tx.send(Ok(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                return;
            }
            continue;
        }
        // At the end of what is written so far.
        if !opts.follow || exited || tx.is_closed() {
            return;
        }
        if idle.is_multiple_of(STATE_EVERY) {
            // One more read after the exit is seen picks up its last output.
            exited = !matches!(runtime.container_state(&id).await, Ok(ContainerState::Running { .. }));
        }
        idle = idle.wrapping_add(1);
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}

/// The offset of the start of the last `n` lines (a final line without a newline counts).
async fn tail_offset(file: &mut tokio::fs::File, n: u64) -> std::io::Result<u64> {
    let len = file.metadata().await?.len();
    if n == 0 {
        return Ok(len);
    }
    let mut end = len;
    let mut newlines = 0u64;
    let mut buf = vec![0u8; CHUNK];
    // A trailing newline ends the last line; it does not start another.
    let mut skip_last = true;
    while end > 0 {
        let size = (end as usize).min(CHUNK);
        let from = end - size as u64;
        file.seek(SeekFrom::Start(from)).await?;
        file.read_exact(&mut buf[..size]).await?;
        for i in (0..size).rev() {
            if buf[i] != b'\n' {
                skip_last = false;
                continue;
            }
            if skip_last {
                skip_last = false;
                continue;
            }
            newlines += 1;
            if newlines == n {
                return Ok(from + i as u64 + 1);
            }
        }
        end = from;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn tail(text: &str, n: u64) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        std::fs::write(&path, text).expect("write");
        let mut f = tokio::fs::File::open(&path).await.expect("open");
        let off = tail_offset(&mut f, n).await.expect("tail");
        text[off as usize..].to_string()
    }

    #[tokio::test]
    async fn tails_whole_lines() {
        assert_eq!(tail("a\nb\nc\n", 2).await, "b\nc\n");
        assert_eq!(tail("a\nb\nc", 2).await, "b\nc");
        assert_eq!(tail("a\nb\nc\n", 5).await, "a\nb\nc\n");
        assert_eq!(tail("a\nb\nc\n", 0).await, "");
        assert_eq!(tail("", 3).await, "");
        assert_eq!(tail("a\n\n\n", 2).await, "\n\n");
    }

    #[tokio::test]
    async fn tails_across_chunks() {
        let line = "x".repeat(1000) + "\n";
        let text = line.repeat(100);
        assert_eq!(tail(&text, 40).await, line.repeat(40));
    }
}
