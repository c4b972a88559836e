//! What a pod needs from the API before its containers run, read by the worker (runtimes never
//! talk to the API): the contents of its configMap, secret, downwardAPI and projected volumes,
//! the `env`/`envFrom` values taken from ConfigMaps, Secrets and the pod itself, and its image
//! pull secrets. Objects are read once per sync pass ([`Reader::clear`] starts a new one).

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, EnvVar, KeyToPath, Pod, Secret, Volume, VolumeProjection,
};
use kube::api::Api;
use kube::{Client, ResourceExt};

use crate::runtime::{PodVolume, PullSecret, VolumeFile, VolumeSource};

/// Upstream's `defaultMode` for configMap, secret, downwardAPI and projected volumes.
const DEFAULT_MODE: u32 = 0o644;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    ConfigMap,
    Secret,
}

impl Kind {
    /// As upstream names them in messages (`configmap "x" not found`).
    fn lower(self) -> &'static str {
        match self {
            Kind::ConfigMap => "configmap",
            Kind::Secret => "secret",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }
    }
}

/// Why a pod's configuration could not be resolved; messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{} \"{name}\" not found", kind.lower())]
    NotFound { kind: Kind, name: String },
    #[error("couldn't find key {key} in {} {namespace}/{name}", kind.title())]
    MissingKey { kind: Kind, namespace: String, name: String, key: String },
    #[error("{0}")]
    Invalid(String),
    #[error("reading {} \"{name}\": {message}", kind.lower())]
    Api { kind: Kind, name: String, message: String },
}

/// A volume that could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeError {
    pub volume: String,
    pub error: ConfigError,
}

impl std::fmt::Display for VolumeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MountVolume.SetUp failed for volume \"{}\" : {}", self.volume, self.error)
    }
}

type Data = BTreeMap<String, Vec<u8>>;

/// Reads ConfigMaps and Secrets of one namespace, each at most once per pass.
pub struct Reader {
    namespace: String,
    configmaps: Api<ConfigMap>,
    secrets: Api<Secret>,
    cache: HashMap<(Kind, String), Option<Data>>,
}

impl Reader {
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            configmaps: Api::namespaced(client.clone(), namespace),
            secrets: Api::namespaced(client, namespace),
            cache: HashMap::new(),
        }
    }

    /// Forgets what was read, so the next pass sees changes.
    pub fn clear(&mut self) {
        self.cache.clear();
    }

    /// The object's keys and values, `None` when it does not exist.
    async fn data(&mut self, kind: Kind, name: &str) -> Result<Option<Data>, ConfigError> {
        if let Some(found) = self.cache.get(&(kind, name.to_string())) {
            return Ok(found.clone());
        }
        let api_error = |e: kube::Error| ConfigError::Api { kind, name: name.to_string(), message: e.to_string() };
        let data = match kind {
            Kind::ConfigMap => self.configmaps.get_opt(name).await.map_err(api_error)?.map(|cm| {
                let mut data: Data =
                    cm.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
                data.extend(cm.binary_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)));
                data
            }),
            Kind::Secret => self.secrets.get_opt(name).await.map_err(api_error)?.map(|s| {
                let mut data: Data = s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect();
                // Upstream merges stringData into data on write; accept it here too.
                data.extend(s.string_data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())));
                data
            }),
        };
        self.cache.insert((kind, name.to_string()), data.clone());
        Ok(data)
    }

    /// The object, or an empty one when it is missing and `optional`.
    async fn required(&mut self, kind: Kind, name: &str, optional: Option<bool>) -> Result<Option<Data>, ConfigError> {
        match self.data(kind, name).await? {
            Some(d) => Ok(Some(d)),
            None if optional.unwrap_or(false) => Ok(None),
            None => Err(ConfigError::NotFound { kind, name: name.to_string() }),
        }
    }

    /// The files of a configMap or secret source: every key, or the listed `items`.
    async fn key_files(
        &mut self,
        kind: Kind,
        name: &str,
        items: Option<&[KeyToPath]>,
        optional: Option<bool>,
        mode: u32,
    ) -> Result<Vec<VolumeFile>, ConfigError> {
        let Some(data) = self.required(kind, name, optional).await? else { return Ok(vec![]) };
        let Some(items) = items else {
            return Ok(data.into_iter().map(|(path, data)| VolumeFile { path, data, mode }).collect());
        };
        let mut files = Vec::new();
        for item in items {
            match data.get(&item.key) {
                Some(value) => files.push(VolumeFile {
                    path: item.path.clone(),
                    data: value.clone(),
                    mode: item.mode.map_or(mode, file_mode),
                }),
                None if optional.unwrap_or(false) => {}
                None => {
                    return Err(ConfigError::Invalid(format!(
                        "{} references non-existent {} key: {}",
                        kind.lower(),
                        kind.lower().replace("configmap", "config"),
                        item.key
                    )));
                }
            }
        }
        Ok(files)
    }

    async fn projection(&mut self, pod: &Pod, p: &VolumeProjection, mode: u32) -> Result<Vec<VolumeFile>, ConfigError> {
        if let Some(cm) = &p.config_map {
            return self.key_files(Kind::ConfigMap, &cm.name, cm.items.as_deref(), cm.optional, mode).await;
        }
        if let Some(s) = &p.secret {
            return self.key_files(Kind::Secret, &s.name, s.items.as_deref(), s.optional, mode).await;
        }
        if let Some(d) = &p.downward_api {
            return downward_files(pod, d.items.as_deref().unwrap_or_default(), mode);
        }
        Err(ConfigError::Invalid("only configMap, secret and downwardAPI projections are supported".into()))
    }

    async fn volume(&mut self, pod: &Pod, v: &Volume) -> Result<VolumeSource, ConfigError> {
        if let Some(e) = &v.empty_dir {
            let memory = e.medium.as_deref() == Some("Memory");
            return Ok(VolumeSource::EmptyDir { memory, size_limit: e.size_limit.as_ref().map(|q| q.0.clone()) });
        }
        if let Some(cm) = &v.config_map {
            let mode = cm.default_mode.map_or(DEFAULT_MODE, file_mode);
            let files = self.key_files(Kind::ConfigMap, &cm.name, cm.items.as_deref(), cm.optional, mode).await?;
            return Ok(VolumeSource::Files(files));
        }
        if let Some(s) = &v.secret {
            let mode = s.default_mode.map_or(DEFAULT_MODE, file_mode);
            let name = s.secret_name.clone().unwrap_or_default();
            let files = self.key_files(Kind::Secret, &name, s.items.as_deref(), s.optional, mode).await?;
            return Ok(VolumeSource::Files(files));
        }
        if let Some(d) = &v.downward_api {
            let mode = d.default_mode.map_or(DEFAULT_MODE, file_mode);
            return downward_files(pod, d.items.as_deref().unwrap_or_default(), mode).map(VolumeSource::Files);
        }
        if let Some(p) = &v.projected {
            let mode = p.default_mode.map_or(DEFAULT_MODE, file_mode);
            let mut files = Vec::new();
            for source in p.sources.iter().flatten() {
                files.extend(self.projection(pod, source, mode).await?);
            }
            return Ok(VolumeSource::Files(files));
        }
        Ok(VolumeSource::Unsupported(volume_type(v)))
    }

    /// Every volume of the pod with its contents.
    pub async fn volumes(&mut self, pod: &Pod) -> Result<Vec<PodVolume>, VolumeError> {
        let mut out = Vec::new();
        for v in pod.spec.as_ref().and_then(|s| s.volumes.as_deref()).unwrap_or_default() {
            match self.volume(pod, v).await {
                Ok(source) => out.push(PodVolume { name: v.name.clone(), source }),
                Err(error) => return Err(VolumeError { volume: v.name.clone(), error }),
            }
        }
        Ok(out)
    }

    /// The container with its environment resolved to literal values: `envFrom` first, then
    /// `env` (later names win), `valueFrom` read from ConfigMaps, Secrets and the pod, and
    /// `$(VAR)` references expanded in values, `command` and `args`, as upstream does.
    pub async fn resolve_env(
        &mut self,
        pod: &Pod,
        c: &Container,
        pod_ip: Option<&str>,
    ) -> Result<Container, ConfigError> {
        let mut env: Vec<(String, String)> = Vec::new();
        let set = |env: &mut Vec<(String, String)>, name: String, value: String| {
            env.retain(|(n, _)| *n != name);
            env.push((name, value));
        };
        for from in c.env_from.iter().flatten() {
            let prefix = from.prefix.clone().unwrap_or_default();
            let (kind, name, optional) = match (&from.config_map_ref, &from.secret_ref) {
                (Some(cm), _) => (Kind::ConfigMap, &cm.name, cm.optional),
                (None, Some(s)) => (Kind::Secret, &s.name, s.optional),
                (None, None) => continue,
            };
            for (k, v) in self.required(kind, name, optional).await?.unwrap_or_default() {
                set(&mut env, format!("{prefix}{k}"), String::from_utf8_lossy(&v).into_owned());
            }
        }
        for var in c.env.iter().flatten() {
            let value = match (&var.value, &var.value_from) {
                (_, Some(from)) => {
                    if let Some(r) = &from.config_map_key_ref {
                        self.key(Kind::ConfigMap, &r.name, &r.key, r.optional).await?
                    } else if let Some(r) = &from.secret_key_ref {
                        self.key(Kind::Secret, &r.name, &r.key, r.optional).await?
                    } else if let Some(f) = &from.field_ref {
                        Some(field(pod, &f.field_path, pod_ip)?)
                    } else {
                        // resourceFieldRef: not resolved yet; the variable stays unset.
                        None
                    }
                }
                (Some(v), None) => Some(expand(v, &env)),
                (None, None) => Some(String::new()),
            };
            if let Some(value) = value {
                set(&mut env, var.name.clone(), value);
            }
        }
        let mut out = c.clone();
        out.env_from = None;
        out.env = Some(
            env.iter()
                .map(|(name, value)| EnvVar { name: name.clone(), value: Some(value.clone()), value_from: None })
                .collect(),
        );
        out.command = c.command.as_ref().map(|cmd| cmd.iter().map(|a| expand(a, &env)).collect());
        out.args = c.args.as_ref().map(|args| args.iter().map(|a| expand(a, &env)).collect());
        Ok(out)
    }

    /// One key's value as a string; `None` when the object or key is missing and `optional`.
    async fn key(
        &mut self,
        kind: Kind,
        name: &str,
        key: &str,
        optional: Option<bool>,
    ) -> Result<Option<String>, ConfigError> {
        let Some(data) = self.required(kind, name, optional).await? else { return Ok(None) };
        match data.get(key) {
            Some(v) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            None if optional.unwrap_or(false) => Ok(None),
            None => Err(ConfigError::MissingKey {
                kind,
                namespace: self.namespace.clone(),
                name: name.to_string(),
                key: key.to_string(),
            }),
        }
    }

    /// The `.dockerconfigjson` of each of the pod's `imagePullSecrets` that exists; missing or
    /// malformed ones are skipped (the pull may then fail), as the kubelet does.
    pub async fn pull_secrets(&mut self, pod: &Pod) -> Vec<PullSecret> {
        let mut out = Vec::new();
        for r in pod.spec.as_ref().and_then(|s| s.image_pull_secrets.as_deref()).unwrap_or_default() {
            match self.data(Kind::Secret, &r.name).await {
                Ok(Some(mut data)) => match data.remove(".dockerconfigjson") {
                    Some(json) => out.push(PullSecret { name: r.name.clone(), dockerconfigjson: json }),
                    None => {
                        tracing::warn!(pod = %pod.name_any(), secret = %r.name, "pull secret has no .dockerconfigjson")
                    }
                },
                Ok(None) => tracing::warn!(pod = %pod.name_any(), secret = %r.name, "pull secret not found"),
                Err(e) => tracing::warn!(pod = %pod.name_any(), error = %e, "reading a pull secret failed"),
            }
        }
        out
    }
}

/// A mode from the API (`int32`), as permission bits.
fn file_mode(mode: i32) -> u32 {
    u32::try_from(mode).unwrap_or(DEFAULT_MODE) & 0o7777
}

/// The field name of a volume's source, for volumes the agent does not provide.
fn volume_type(v: &Volume) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| j.as_object().and_then(|o| o.keys().find(|k| *k != "name").cloned()))
        .unwrap_or_else(|| "this".into())
}

fn downward_files(pod: &Pod, items: &[DownwardAPIVolumeFile], mode: u32) -> Result<Vec<VolumeFile>, ConfigError> {
    let mut files = Vec::new();
    for item in items {
        let Some(f) = &item.field_ref else {
            return Err(ConfigError::Invalid(format!("downwardAPI {:?}: only fieldRef is supported", item.path)));
        };
        let data = match f.field_path.as_str() {
            // Files list every label and annotation, one `key="value"` a line.
            "metadata.labels" => map_lines(pod.metadata.labels.as_ref()),
            "metadata.annotations" => map_lines(pod.metadata.annotations.as_ref()),
            path => field(pod, path, None)?,
        };
        files.push(VolumeFile {
            path: item.path.clone(),
            data: data.into_bytes(),
            mode: item.mode.map_or(mode, file_mode),
        });
    }
    Ok(files)
}

fn map_lines(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter().flatten().map(|(k, v)| format!("{k}={v:?}\n")).collect()
}

/// A `fieldRef` of the downward API.
fn field(pod: &Pod, path: &str, pod_ip: Option<&str>) -> Result<String, ConfigError> {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let subscript = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
            .map(str::to_string)
    };
    let value = match path {
        "metadata.name" => pod.metadata.name.clone(),
        "metadata.namespace" => pod.metadata.namespace.clone(),
        "metadata.uid" => pod.metadata.uid.clone(),
        "spec.nodeName" => spec.node_name,
        "spec.serviceAccountName" => spec.service_account_name,
        "status.podIP" => pod_ip.map(str::to_string).or(status.pod_ip),
        "status.podIPs" => pod_ip.map(str::to_string).or(status.pod_ip),
        "status.hostIP" | "status.hostIPs" => status.host_ip,
        _ => {
            if let Some(key) = subscript("metadata.labels") {
                pod.labels().get(&key).cloned()
            } else if let Some(key) = subscript("metadata.annotations") {
                pod.annotations().get(&key).cloned()
            } else {
                return Err(ConfigError::Invalid(format!("unsupported fieldRef {path:?}")));
            }
        }
    };
    Ok(value.unwrap_or_default())
}

/// `$(VAR)` references to defined variables replaced by their values; `$$` is a literal `$`;
/// anything else is left as written (upstream's `expansion.Expand`).
fn expand(input: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
        {
            let name = &inner[..end];
            match env.iter().rev().find(|(n, _)| n == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_upstream() {
        let env = vec![("A".to_string(), "1".to_string()), ("B".to_string(), "x".to_string())];
        assert_eq!(expand("$(A)-$(B)", &env), "1-x");
        assert_eq!(expand("$$(A) $(C) $ $(", &env), "$(A) $(C) $ $(");
        assert_eq!(expand("plain", &env), "plain");
    }

    #[test]
    fn fields_and_modes() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "n", "labels": {"app": "web"}},
            "spec": {"containers": [], "nodeName": "h1"},
        }))
        .expect("pod");
        assert_eq!(field(&pod, "metadata.labels['app']", None).expect("label"), "web");
        assert_eq!(field(&pod, "spec.nodeName", None).expect("node"), "h1");
        assert_eq!(field(&pod, "status.podIP", Some("10.0.0.2")).expect("ip"), "10.0.0.2");
        assert!(field(&pod, "spec.nope", None).is_err());
        assert_eq!(file_mode(0o400), 0o400);
        assert_eq!(file_mode(-1), DEFAULT_MODE);
        let files = downward_files(
            &pod,
            &[DownwardAPIVolumeFile {
                path: "labels".into(),
                field_ref: Some(k8s_openapi::api::core::v1::ObjectFieldSelector {
                    field_path: "metadata.labels".into(),
                    api_version: None,
                }),
                ..Default::default()
            }],
            0o644,
        )
        .expect("files");
        assert_eq!(files[0].data, b"app=\"web\"\n");
        let v: Volume = serde_json::from_value(serde_json::json!({"name": "h", "hostPath": {"path": "/"}})).expect("v");
        assert_eq!(volume_type(&v), "hostPath");
        let e = ConfigError::NotFound { kind: Kind::ConfigMap, name: "c".into() };
        let ve = VolumeError { volume: "cfg".into(), error: e };
        assert_eq!(ve.to_string(), "MountVolume.SetUp failed for volume \"cfg\" : configmap \"c\" not found");
    }
}
