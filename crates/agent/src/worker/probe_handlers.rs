//! One probe attempt: exec (through [`Runtime::exec`]), httpGet (a plain HTTP/1.1 GET over a
//! connection from [`Runtime::dial`]) and tcpSocket (the dial alone). Messages follow
//! upstream's so `kubectl describe` reads the same.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::runtime::{ExecProcess, ExecRequest, Runtime, RuntimeError, Sandbox};

/// How much of a command's output or a response is kept (upstream's limit is 10 KiB).
const MAX_OUTPUT: usize = 10 * 1024;
/// Sent as the probe's User-Agent, like the kubelet's `kube-probe/<minor version>`.
const USER_AGENT: &str = "kube-probe/1.33";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure(String),
    /// The runtime cannot exec or dial (the `sim` runtime).
    Unsupported,
}

/// Runs the probe's handler once within `timeout`.
pub async fn check(
    runtime: &dyn Runtime,
    sandbox: &Sandbox,
    container: &Container,
    id: &str,
    probe: &Probe,
    timeout: Duration,
) -> Outcome {
    if let Some(exec) = &probe.exec {
        return exec_check(runtime, id, exec.command.clone().unwrap_or_default(), timeout).await;
    }
    let ip = sandbox.ip.clone().unwrap_or_default();
    if let Some(http) = &probe.http_get {
        let port = match resolve_port(&http.port, container) {
            Ok(p) => p,
            Err(e) => return Outcome::Failure(e),
        };
        return http_check(runtime, sandbox, &ip, port, http, timeout).await;
    }
    if let Some(tcp) = &probe.tcp_socket {
        let port = match resolve_port(&tcp.port, container) {
            Ok(p) => p,
            Err(e) => return Outcome::Failure(e),
        };
        return match tokio::time::timeout(timeout, runtime.dial(sandbox, port)).await {
            Ok(Ok(_)) => Outcome::Success,
            Ok(Err(RuntimeError::Unsupported(_))) => Outcome::Unsupported,
            Ok(Err(e)) => Outcome::Failure(e.to_string()),
            Err(_) => Outcome::Failure(format!("dial tcp {ip}:{port}: i/o timeout")),
        };
    }
    if probe.grpc.is_some() {
        return Outcome::Failure("gRPC probes are not supported by this agent".into());
    }
    Outcome::Failure("the probe has no handler".into())
}

/// A probe port: a number, or the name of one of the container's ports.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => match s.parse::<i32>() {
            Ok(n) => n,
            Err(_) => container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(s.as_str()))
                .map(|p| p.container_port)
                .ok_or_else(|| format!("unable to find port {s:?} in container {:?}", container.name))?,
        },
    };
    u16::try_from(number).ok().filter(|p| *p > 0).ok_or_else(|| format!("invalid port number: {number}"))
}

async fn read_limited(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = (&mut r).take(MAX_OUTPUT as u64).read_to_end(&mut buf).await;
    // Drain the rest so the command never blocks on a full pipe.
    let _ = tokio::io::copy(&mut r, &mut tokio::io::sink()).await;
    buf
}

async fn exec_check(runtime: &dyn Runtime, id: &str, command: Vec<String>, timeout: Duration) -> Outcome {
    let shown = command.join(" ");
    let run = async {
        let process = runtime.exec(id, ExecRequest { command, tty: false, stdin: false }).await?;
        let ExecProcess { stdout, stderr, exit, .. } = process;
        let stderr = async move {
            match stderr {
                Some(e) => read_limited(e).await,
                None => Vec::new(),
            }
        };
        let (out, err) = tokio::join!(read_limited(stdout), stderr);
        let code = exit.await?;
        let mut output = out;
        output.extend(err);
        output.truncate(MAX_OUTPUT);
        Ok::<_, RuntimeError>((code, String::from_utf8_lossy(&output).trim_end().to_string()))
    };
    // Dropping the exec on timeout kills the command.
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok((0, _))) => Outcome::Success,
        Ok(Ok((code, output))) if output.is_empty() => {
            Outcome::Failure(format!("command \"{shown}\" exited with {code}"))
        }
        Ok(Ok((_, output))) => Outcome::Failure(output),
        Ok(Err(RuntimeError::Unsupported(_))) => Outcome::Unsupported,
        Ok(Err(e)) => Outcome::Failure(e.to_string()),
        Err(_) => Outcome::Failure(format!("command \"{shown}\" timed out")),
    }
}

/// The request a probe sends: the path, upstream's default headers, the probe's own headers
/// (which replace defaults of the same name), and `Connection: close`.
pub fn http_request(http: &HTTPGetAction, host: &str) -> Result<String, String> {
    let mut path = http.path.clone().unwrap_or_default();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let unsafe_text = |s: &str| s.chars().any(|c| c.is_control());
    if unsafe_text(&path) || path.contains(' ') {
        return Err(format!("invalid probe path {path:?}"));
    }
    let headers = http.http_headers.clone().unwrap_or_default();
    let mut lines = vec![format!("GET {path} HTTP/1.1")];
    let given = |name: &str| headers.iter().any(|h| h.name.eq_ignore_ascii_case(name));
    for (name, value) in [("Host", host), ("User-Agent", USER_AGENT), ("Accept", "*/*")] {
        if !given(name) {
            lines.push(format!("{name}: {value}"));
        }
    }
    for h in &headers {
        if unsafe_text(&h.name) || unsafe_text(&h.value) || h.name.contains(':') || h.name.is_empty() {
            return Err(format!("invalid probe header {:?}", h.name));
        }
        lines.push(format!("{}: {}", h.name, h.value));
    }
    lines.push("Connection: close".into());
    Ok(lines.join("\r\n") + "\r\n\r\n")
}

/// The status code of an HTTP/1.x status line (`HTTP/1.1 200 OK`).
pub fn status_code(response: &[u8]) -> Option<u16> {
    let line_end = response.windows(2).position(|w| w == b"\r\n").unwrap_or(response.len());
    let line = std::str::from_utf8(&response[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

async fn http_check(
    runtime: &dyn Runtime,
    sandbox: &Sandbox,
    ip: &str,
    port: u16,
    http: &HTTPGetAction,
    timeout: Duration,
) -> Outcome {
    let scheme = http.scheme.as_deref().unwrap_or("HTTP");
    let path = http.path.clone().unwrap_or_default();
    let url = format!("{}://{ip}:{port}{path}", scheme.to_ascii_lowercase());
    if !scheme.eq_ignore_ascii_case("HTTP") {
        return Outcome::Failure(format!("Get \"{url}\": {scheme} probes are not supported by this agent"));
    }
    let request = match http_request(http, &format!("{ip}:{port}")) {
        Ok(r) => r,
        Err(e) => return Outcome::Failure(e),
    };
    let exchange = async {
        let mut stream = runtime.dial(sandbox, port).await?;
        stream.write_all(request.as_bytes()).await.map_err(|e| RuntimeError::Other(e.to_string()))?;
        let mut response = Vec::new();
        let mut buf = [0u8; 2048];
        // The status line is all that counts; stop at the end of the headers or the limit.
        while !response.windows(4).any(|w| w == b"\r\n\r\n") && response.len() < MAX_OUTPUT {
            let n = stream.read(&mut buf).await.map_err(|e| RuntimeError::Other(e.to_string()))?;
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
        }
        Ok::<_, RuntimeError>(response)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(response)) => match status_code(&response) {
            Some(code) if (200..400).contains(&code) => Outcome::Success,
            Some(code) => Outcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
            None => Outcome::Failure(format!("Get \"{url}\": malformed HTTP response")),
        },
        Ok(Err(RuntimeError::Unsupported(_))) => Outcome::Unsupported,
        Ok(Err(e)) => Outcome::Failure(format!("Get \"{url}\": {e}")),
        Err(_) => Outcome::Failure(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerPort, HTTPHeader};

    #[test]
    fn ports_resolve_by_number_or_name() {
        let c = Container {
            name: "web".into(),
            ports: Some(vec![ContainerPort { name: Some("http".into()), container_port: 8080, ..Default::default() }]),
            ..Default::default()
        };
        assert_eq!(resolve_port(&IntOrString::Int(80), &c), Ok(80));
        assert_eq!(resolve_port(&IntOrString::String("http".into()), &c), Ok(8080));
        assert_eq!(resolve_port(&IntOrString::String("81".into()), &c), Ok(81));
        assert!(resolve_port(&IntOrString::String("nope".into()), &c).is_err());
        assert!(resolve_port(&IntOrString::Int(70000), &c).is_err());
    }

    #[test]
    fn requests_carry_path_and_headers() {
        let http = HTTPGetAction {
            path: Some("healthz".into()),
            http_headers: Some(vec![
                HTTPHeader { name: "X-Probe".into(), value: "1".into() },
                HTTPHeader { name: "accept".into(), value: "text/plain".into() },
            ]),
            ..Default::default()
        };
        let r = http_request(&http, "10.0.0.2:80").expect("request");
        assert!(r.starts_with("GET /healthz HTTP/1.1\r\nHost: 10.0.0.2:80\r\nUser-Agent: kube-probe/1.33\r\n"), "{r}");
        assert!(r.contains("X-Probe: 1\r\naccept: text/plain\r\nConnection: close\r\n\r\n"), "{r}");
        assert!(!r.contains("*/*"), "{r}");
        let bad = HTTPGetAction {
            http_headers: Some(vec![HTTPHeader { name: "X".into(), value: "a\r\nInjected: 1".into() }]),
            ..Default::default()
        };
        assert!(http_request(&bad, "h").is_err());
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n\r\n"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 404 Not Found\r\n"), Some(404));
        assert_eq!(status_code(b"HTTP/1.1 302"), Some(302));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b""), None);
    }
}
