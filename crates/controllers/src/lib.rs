//! Canopy's platform controllers: level-triggered, idempotent reconcilers built on
//! `kube::runtime::Controller`, each an API client over HTTPS like any other.
//!
//! Owns: the controllers that realise Canopy's own kinds as Kubernetes objects. Today:
//! [`namespace_config`], the vSphere Namespace settings (quota, container defaults, permissions).
//! Does not own: anything the API server does by itself (admission, quota accounting, garbage
//! collection, namespace termination); this crate never links the server or its store.

pub mod namespace_config;
pub mod quantity;

/// Runs every controller until the process ends (installs their CRDs first).
pub async fn run(client: kube::Client) -> anyhow::Result<()> {
    namespace_config::run(client).await
}

/// An error and its causes on one line (`applying ResourceQuota a/b: ApiError: ...`), for
/// status messages and logs.
/// An API error ends the chain with the server's own message and reason (`... is forbidden: ...
/// (Forbidden)`), not the whole `Status`.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(e) = next {
        if !text.is_empty() {
            text.push_str(": ");
        }
        if let Some(kube::Error::Api(status)) = e.downcast_ref::<kube::Error>() {
            text.push_str(&format!("{} ({})", status.message, status.reason));
            break;
        }
        text.push_str(&e.to_string());
        next = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("applying ResourceQuota a/b")]
    struct Outer(#[source] kube::Error);

    #[test]
    fn describe_ends_with_the_server_message() {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "message": "quota is forbidden", "reason": "Forbidden", "code": 403,
        }))
        .expect("status");
        let e = Outer(kube::Error::Api(Box::new(status)));
        assert_eq!(super::describe(&e), "applying ResourceQuota a/b: quota is forbidden (Forbidden)");
    }
}
