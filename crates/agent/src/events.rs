//! Events the agent reports about pods (Pulling, Started, BackOff ...), as core/v1 Events from
//! source `canopy-agent` on the host, the way a kubelet reports them. Sent in the background:
//! an Event that cannot be written is logged, never holds up a pod.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::{Client, ResourceExt};
use serde_json::json;

#[derive(Clone)]
pub struct Recorder {
    client: Client,
    host: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Warning,
}

impl Kind {
    /// `Warning` when `warning`, else `Normal`.
    pub fn of(warning: bool) -> Self {
        if warning { Kind::Warning } else { Kind::Normal }
    }
}

impl Recorder {
    pub fn new(client: Client, host: &str) -> Self {
        Self { client, host: host.to_string() }
    }

    pub fn pod(&self, pod: &Pod, kind: Kind, reason: &str, message: String) {
        let ns = pod.namespace().unwrap_or_else(|| "default".into());
        let name = pod.name_any();
        let involved = json!({"kind": "Pod", "apiVersion": "v1", "namespace": ns, "name": name, "uid": pod.uid()});
        self.record(&ns, &name, involved, kind, reason, message);
    }

    /// An Event about the host's Node (in `default`, where upstream's node events go).
    pub fn node(&self, kind: Kind, reason: &str, message: String) {
        let involved = json!({"kind": "Node", "apiVersion": "v1", "name": self.host, "uid": self.host});
        self.record("default", &self.host.clone(), involved, kind, reason, message);
    }

    fn record(&self, ns: &str, name: &str, involved: serde_json::Value, kind: Kind, reason: &str, message: String) {
        let now = canopy_client::time::now();
        let event = json!({
            "metadata": {"generateName": format!("{name}."), "namespace": ns},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": if kind == Kind::Normal { "Normal" } else { "Warning" },
            "source": {"component": "canopy-agent", "host": self.host},
            "reportingComponent": "canopy-agent",
            "reportingInstance": self.host,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        });
        let (client, ns) = (self.client.clone(), ns.to_string());
        tokio::spawn(async move {
            if let Err(e) = canopy_client::unread::create::<Event>(&client, &ns, &event).await {
                tracing::debug!(error = %e, "recording an event failed");
            }
        });
    }
}
