//! The host end of a pod VM's channel: HTTP/2 (the `canopy_guest::protocol` routes) over the
//! unix socket QEMU serves for the VM's virtio-serial port. The socket lives in the pod's
//! directory, which only root can enter, so only the agent can talk to the guest.

use std::convert::Infallible;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::de::DeserializeOwned;

pub type Body = BoxBody<Bytes, Infallible>;

pub struct GuestClient {
    socket: PathBuf,
    sender: tokio::sync::Mutex<Option<SendRequest<Body>>>,
}

/// How long one attempt to reach a guest may take before the connection is made again.
const ATTEMPT: Duration = Duration::from_secs(5);

/// How long a guest may take to complete the handshake of a new connection: a guest that does
/// not (it is not trusted) must not hold up the agent's requests.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// The largest answer read whole from a guest (statuses and errors are a few hundred bytes).
const MAX_ANSWER: usize = 1 << 20;

/// The host's side of the handshake before HTTP/2 (see `canopy_guest::protocol::HELLO`). Reads
/// byte by byte, so nothing the guest sends after `READY` is taken from HTTP/2.
async fn handshake(stream: &mut tokio::net::UnixStream) -> Result<(), String> {
    use canopy_guest::protocol::{GO, HELLO, READY, RESET, contains};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = |e: std::io::Error| format!("greeting the VM: {e}");
    stream.write_all(RESET).await.map_err(io)?;
    for (wanted, answer) in [(HELLO, Some(GO)), (READY, None)] {
        let mut seen = Vec::new();
        while !contains(&seen, wanted) {
            let byte = stream.read_u8().await.map_err(io)?;
            seen.push(byte);
            if seen.len() > 4096 {
                seen.drain(..2048);
            }
        }
        if let Some(answer) = answer {
            stream.write_all(answer).await.map_err(io)?;
        }
    }
    Ok(())
}

impl GuestClient {
    pub fn new(socket: PathBuf) -> Self {
        Self { socket, sender: tokio::sync::Mutex::new(None) }
    }

    async fn sender(&self) -> Result<SendRequest<Body>, String> {
        let mut current = self.sender.lock().await;
        if let Some(sender) = current.as_ref().filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        let mut stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|e| format!("connecting to the VM at {}: {e}", self.socket.display()))?;
        tokio::time::timeout(HANDSHAKE, handshake(&mut stream))
            .await
            .map_err(|_| "the VM did not greet the agent in time".to_string())??;
        let (sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| format!("speaking HTTP/2 to the VM: {e}"))?;
        tokio::spawn(connection);
        *current = Some(sender.clone());
        Ok(sender)
    }

    /// Forgets the connection, so the next request makes a new one.
    async fn reset(&self) {
        *self.sender.lock().await = None;
    }

    /// Sends a request; the answer's status and body.
    pub async fn send(&self, method: Method, path: &str, body: Body) -> Result<(StatusCode, Incoming), String> {
        let mut sender = self.sender().await?;
        let request = Request::builder()
            .method(method)
            .uri(format!("http://guest/v1/{path}"))
            .body(body)
            .map_err(|e| format!("building a request for {path}: {e}"))?;
        let response = sender.send_request(request).await.map_err(|e| format!("asking the VM ({path}): {e}"))?;
        Ok((response.status(), response.into_body()))
    }

    /// A request with a JSON body (or none) whose answer must be a success; its body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        json: Option<&impl serde::Serialize>,
    ) -> Result<Bytes, String> {
        let body = match json {
            Some(value) => Full::new(Bytes::from(serde_json::to_vec(value).expect("protocol types serialize"))).boxed(),
            None => Empty::new().boxed(),
        };
        let (status, body) = self.send(method, path, body).await?;
        let bytes = Limited::new(body, MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("reading the VM's answer ({path}): {e}"))?
            .to_bytes();
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(format!("the VM refused {path}: {} {}", status.as_u16(), String::from_utf8_lossy(&bytes).trim()))
        }
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let bytes = self.call(Method::GET, path, None::<&()>).await?;
        serde_json::from_slice(&bytes).map_err(|e| format!("the VM's answer to {path} is invalid: {e}"))
    }

    /// Waits until the guest answers, reconnecting after every attempt that gets no answer.
    /// `alive` says whether the VM still runs (a VM that died will never answer).
    pub async fn wait_ready(
        &self,
        deadline: Instant,
        alive: impl Fn() -> bool,
    ) -> Result<canopy_guest::protocol::Ready, String> {
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            if !alive() {
                return Err("the VM stopped while booting".into());
            }
            match tokio::time::timeout(ATTEMPT, self.get_json("ready")).await {
                Ok(Ok(ready)) => return Ok(ready),
                Ok(Err(e)) => {
                    last = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(_) => last = "no answer".into(),
            }
            self.reset().await;
        }
        Err(format!("the VM did not answer in time: {last}"))
    }
}
