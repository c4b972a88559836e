//! The HTTP/2 server on the virtio-serial port; the routes are `canopy_guest::protocol`'s.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use canopy_guest::protocol::{ContainerSpec, Ready, SandboxConfig, Signal, Volume};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::containers::{Container, Containers, Failure};
use crate::init::RUN;
use crate::port::Port;

type Body = BoxBody<Bytes, Infallible>;

/// The largest JSON request (a volume's files: Secrets and ConfigMaps are at most 1 MiB each).
const MAX_REQUEST: usize = 8 << 20;

#[derive(Default)]
pub struct Guest {
    containers: Containers,
    hostname: Mutex<String>,
}

impl Guest {
    pub fn new() -> Self {
        Self::default()
    }

    fn hosts_file() -> PathBuf {
        Path::new(RUN).join("hosts")
    }

    async fn configure(&self, config: SandboxConfig) -> Result<(), Failure> {
        let now = Duration::from_millis(config.now_unix_ms);
        let time = rustix::time::Timespec { tv_sec: now.as_secs() as i64, tv_nsec: i64::from(now.subsec_nanos()) };
        rustix::time::clock_settime(rustix::time::ClockId::Realtime, time)
            .map_err(|e| Failure::internal(format!("setting the clock: {e}")))?;
        rustix::system::sethostname(config.hostname.as_bytes())
            .map_err(|e| Failure::bad(format!("setting the hostname {:?}: {e}", config.hostname)))?;
        std::fs::write(Self::hosts_file(), &config.hosts_file)
            .map_err(|e| Failure::internal(format!("writing the hosts file: {e}")))?;
        if let Some(network) = &config.network {
            crate::network::configure(network).await?;
        }
        *self.hostname.lock().expect("hostname lock") = config.hostname;
        Ok(())
    }
}

pub async fn serve(guest: Arc<Guest>, port: Port) {
    let service = hyper::service::service_fn(move |request| {
        let guest = guest.clone();
        async move { Ok::<_, Infallible>(handle(&guest, request).await) }
    });
    // The connection ends when the host side closes; the caller opens the next one.
    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(port), service)
        .await;
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
    *response.status_mut() = status;
    response
}

fn empty(status: StatusCode) -> Response<Body> {
    text(status, String::new())
}

fn json(value: &impl serde::Serialize) -> Response<Body> {
    text(StatusCode::OK, serde_json::to_string(value).expect("protocol types serialize"))
}

fn stream(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Response<Body> {
    let frames = ReceiverStream::new(rx).map(|b| Ok::<_, Infallible>(Frame::data(b)));
    Response::new(BodyExt::boxed(StreamBody::new(frames)))
}

async fn read_json<T: DeserializeOwned>(body: Incoming) -> Result<T, Failure> {
    let bytes = Limited::new(body, MAX_REQUEST)
        .collect()
        .await
        .map_err(|e| Failure::bad(format!("reading the request: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| Failure::bad(format!("invalid request: {e}")))
}

async fn handle(guest: &Guest, request: Request<Incoming>) -> Response<Body> {
    match route(guest, request).await {
        Ok(response) => response,
        Err(Failure(status, reason)) => text(status, reason),
    }
}

async fn route(guest: &Guest, request: Request<Incoming>) -> Result<Response<Body>, Failure> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().strip_prefix("/v1/").unwrap_or_default().to_string();
    let segments: Vec<&str> = path.split('/').collect();
    match (&parts.method, segments.as_slice()) {
        (&Method::GET, ["ready"]) => {
            Ok(json(&Ready { kernel_boot_ms: crate::init::KERNEL_BOOT_MS.get().copied().unwrap_or(0) }))
        }
        (&Method::PUT, ["sandbox"]) => {
            guest.configure(read_json(body).await?).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (&Method::PUT, ["volumes", name]) => {
            crate::volumes::put(name, read_json::<Volume>(body).await?)?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (&Method::POST, ["containers"]) => {
            let spec: ContainerSpec = read_json(body).await?;
            let hostname = guest.hostname.lock().expect("hostname lock").clone();
            guest.containers.start(spec, &hostname, &Guest::hosts_file())?;
            Ok(empty(StatusCode::CREATED))
        }
        (&Method::GET, ["containers", id]) => Ok(json(&*guest.containers.get(id)?.status.borrow())),
        (&Method::POST, ["containers", id, "signal"]) => {
            guest.containers.signal(id, read_json::<Signal>(body).await?)?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (&Method::DELETE, ["containers", id]) => {
            guest.containers.remove(id).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (&Method::GET, ["containers", id, "log"]) => {
            let offset = parts
                .uri
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("offset=")))
                .map(|o| o.parse::<u64>().map_err(|_| Failure::bad(format!("invalid offset {o:?}"))))
                .transpose()?
                .unwrap_or(0);
            Ok(stream(follow_log(guest.containers.get(id)?, offset).await?))
        }
        (&Method::POST, ["containers", id, "exec"]) => {
            Ok(stream(crate::exec::run(guest.containers.get(id)?, body).await?))
        }
        _ => Err(Failure(StatusCode::NOT_FOUND, format!("no route for {} /v1/{path}", parts.method))),
    }
}

/// The container's output from `offset`, followed until the container has exited and all of
/// it is sent.
async fn follow_log(container: Arc<Container>, offset: u64) -> Result<tokio::sync::mpsc::Receiver<Bytes>, Failure> {
    let mut file = tokio::fs::File::open(container.log_path())
        .await
        .map_err(|e| Failure::internal(format!("opening the log: {e}")))?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(|e| Failure::internal(format!("seeking the log: {e}")))?;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // Read after checking, so output written just before the exit is not left behind.
            let exited = container.exited();
            match file.read(&mut buf).await {
                Ok(0) if exited => return,
                Ok(0) => tokio::time::sleep(Duration::from_millis(100)).await,
                Ok(n) => {
                    if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    Ok(rx)
}
