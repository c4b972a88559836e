//! `pods/log` and `pods/exec`: checked and authorized here, then proxied to the agent of the
//! pod's host ([`crate::agents`]). Logs stream back as they come; exec is a WebSocket that the
//! server passes through byte for byte once both ends have switched protocols.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::Ctx;
use crate::agents::Target;
use crate::error::{ApiError, ApiResult};

/// Log options passed on to the agent (it refuses those it cannot honour).
const LOG_PARAMS: &[&str] =
    &["follow", "previous", "tailLines", "limitBytes", "timestamps", "sinceSeconds", "sinceTime"];
const EXEC_PARAMS: &[&str] = &["command", "stdin", "stdout", "stderr", "tty"];
/// WebSocket handshake headers relayed each way.
const UPGRADE_REQUEST_HEADERS: &[&str] = &["sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol"];
const UPGRADE_RESPONSE_HEADERS: &[&str] = &["sec-websocket-accept", "sec-websocket-protocol"];
/// The most of an agent's error message relayed.
const MAX_ERROR: usize = 64 * 1024;

fn names(containers: Option<&Value>) -> Vec<&str> {
    containers.and_then(Value::as_array).into_iter().flatten().filter_map(|c| c["name"].as_str()).collect()
}

/// The container a request names, or the pod's only one; upstream's messages otherwise.
fn pick_container(pod: &Value, pod_name: &str, asked: Option<&str>) -> ApiResult<String> {
    let main = names(pod.pointer("/spec/containers"));
    let init = names(pod.pointer("/spec/initContainers"));
    match asked {
        Some(c) if main.contains(&c) || init.contains(&c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::BadRequest(format!("container {c} is not valid for pod {pod_name}"))),
        None if main.len() == 1 => Ok(main[0].to_string()),
        None => {
            let mut message =
                format!("a container name must be specified for pod {pod_name}, choose one of: [{}]", main.join(" "));
            if !init.is_empty() {
                message.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
            }
            Err(ApiError::BadRequest(message))
        }
    }
}

/// The pod, its chosen container and where its host's agent is.
async fn locate(ctx: &Ctx) -> ApiResult<(String, Target)> {
    let pod = ctx.api.objects.get(&ctx.res, ctx.ns(), ctx.name()).await?;
    let container = pick_container(&pod, ctx.name(), ctx.query.get("container"))?;
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("pod {} does not have a host assigned", ctx.name())))?;
    let nodes = ctx.api.registry.get("", "v1", "nodes").expect("nodes are built in");
    let node = ctx.api.objects.get(&nodes, None, node).await?;
    Ok((container, Target::of_node(&node)?))
}

/// The agent's path for `kind` (`containerLogs`, `exec`), with the allowed parameters.
fn agent_path(ctx: &Ctx, kind: &str, container: &str, params: &[&str]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for key in params {
        for value in ctx.query.all(key) {
            query.append_pair(key, value);
        }
    }
    let seg = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("/{kind}/{}/{}/{}?{}", seg(ctx.ns().unwrap_or_default()), seg(ctx.name()), seg(container), query.finish())
}

/// An agent's refusal, as the Status users see (its message is the agent's text).
async fn relay_error(resp: http::Response<hyper::body::Incoming>) -> ApiError {
    let status = resp.status();
    let body = match http_body_util::Limited::new(resp.into_body(), MAX_ERROR).collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if body.is_empty() { format!("the host answered {status}") } else { body };
    match status {
        StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => ApiError::BadRequest(message),
        _ => ApiError::Internal(message),
    }
}

/// `GET pods/{name}/log`.
pub async fn logs(ctx: Ctx) -> ApiResult<Response> {
    let (container, target) = locate(&ctx).await?;
    let uri = agent_path(&ctx, "containerLogs", &container, LOG_PARAMS);
    let req = Request::get(uri).header(header::HOST, target.ip.to_string()).body(String::new()).map_err(internal)?;
    let resp = ctx.api.agents.send(&target, req).await?;
    if !resp.status().is_success() {
        return Err(relay_error(resp).await);
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::new(resp.into_body()))
        .map_err(internal)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

fn is_websocket(headers: &HeaderMap) -> bool {
    headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `GET|POST pods/{name}/exec` with a WebSocket upgrade.
pub async fn exec(ctx: Ctx, method: &Method, upgrade: Option<OnUpgrade>) -> ApiResult<Response> {
    let (container, target) = locate(&ctx).await?;
    if ctx.query.all("command").next().is_none() {
        return Err(ApiError::BadRequest("you must specify at least one command for the container".into()));
    }
    let (true, Some(client)) = (is_websocket(&ctx.headers), upgrade) else {
        return Err(ApiError::BadRequest(
            "exec is served over WebSocket (v5.channel.k8s.io) only; SPDY is not supported: use kubectl 1.30 or newer"
                .into(),
        ));
    };
    let mut req = Request::builder()
        .method(method.clone())
        .uri(agent_path(&ctx, "exec", &container, EXEC_PARAMS))
        .header(header::HOST, target.ip.to_string())
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket");
    for name in UPGRADE_REQUEST_HEADERS {
        if let Some(v) = ctx.headers.get(*name) {
            req = req.header(*name, v);
        }
    }
    let resp = ctx.api.agents.send(&target, req.body(String::new()).map_err(internal)?).await?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(relay_error(resp).await);
    }
    let mut answer = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, HeaderValue::from_static("Upgrade"))
        .header(header::UPGRADE, HeaderValue::from_static("websocket"));
    for name in UPGRADE_RESPONSE_HEADERS {
        if let Some(v) = resp.headers().get(*name) {
            answer = answer.header(*name, v);
        }
    }
    let host = hyper::upgrade::on(resp);
    tokio::spawn(async move {
        let (host, client) = match tokio::try_join!(host, client) {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!(error = %e, "exec upgrade failed");
                return;
            }
        };
        let (mut host, mut client) = (TokioIo::new(host), TokioIo::new(client));
        let _ = tokio::io::copy_bidirectional(&mut client, &mut host).await;
    });
    answer.body(Body::empty()).map_err(internal)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn picks_containers_as_upstream() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        assert_eq!(pick_container(&pod, "p", Some("b")).expect("b"), "b");
        assert_eq!(pick_container(&pod, "p", Some("i")).expect("init"), "i");
        let err = pick_container(&pod, "p", None).expect_err("ambiguous").to_string();
        assert_eq!(
            err,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        assert_eq!(
            pick_container(&pod, "p", Some("z")).expect_err("bad").to_string(),
            "container z is not valid for pod p"
        );
        let single = json!({"spec": {"containers": [{"name": "only"}]}});
        assert_eq!(pick_container(&single, "p", None).expect("only"), "only");
    }
}
