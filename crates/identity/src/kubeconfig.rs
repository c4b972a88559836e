//! The kubeconfig `canopy login` writes: serde structs for upstream's `Config` shape
//! (`clientcmd/api/v1`: clusters, users, contexts, current-context, preferences) that keep every
//! field they do not name (`extra`), so merging into a user's existing file loses nothing.
//!
//! [`login_kubeconfig`] adds or replaces one cluster, one user and one context per namespace,
//! named the way `kubectl vsphere login` names them ([`LoginEntries`]); [`logout_kubeconfig`]
//! removes the token again. Owns the text in and out; does not own reading or writing the file
//! (the CLI does, with mode 0600) or deciding which namespaces a user may use (the server does).

mod login;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

pub use login::{LoginEntries, login_kubeconfig, logout_kubeconfig, user_token};

/// Why a kubeconfig could not be read, built or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeconfigError {
    #[error("existing kubeconfig is not a valid kubeconfig: {0}")]
    Parse(String),
    #[error("server URL {0:?} must be https://HOST[:PORT][/PATH]")]
    InvalidServer(String),
    #[error("CA certificate must be PEM (-----BEGIN CERTIFICATE-----)")]
    InvalidCa,
    #[error("user name must not be empty")]
    EmptyUser,
    #[error("token must be non-empty printable ASCII without spaces")]
    InvalidToken,
    #[error("namespace {0:?} is not a valid namespace name")]
    InvalidNamespace(String),
    #[error("context {0:?} is not in the kubeconfig")]
    UnknownContext(String),
    #[error("rendering kubeconfig: {0}")]
    Render(String),
}

/// A kubeconfig file (`apiVersion: v1`, `kind: Config`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    #[serde(rename = "apiVersion", default, deserialize_with = "null_default")]
    pub api_version: String,
    #[serde(default, deserialize_with = "null_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub preferences: Map<String, Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub clusters: Vec<NamedCluster>,
    #[serde(default, deserialize_with = "null_default")]
    pub users: Vec<NamedUser>,
    #[serde(default, deserialize_with = "null_default")]
    pub contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default, deserialize_with = "null_default")]
    pub current_context: String,
    /// Fields this type does not name (`extensions`, anything newer), kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            api_version: "v1".to_string(),
            kind: "Config".to_string(),
            preferences: Map::new(),
            clusters: Vec::new(),
            users: Vec::new(),
            contexts: Vec::new(),
            current_context: String::new(),
            extra: Map::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub cluster: Cluster,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    #[serde(default, deserialize_with = "null_default")]
    pub server: String,
    /// Base64 of the PEM CA bundle.
    #[serde(rename = "certificate-authority-data", default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub user: AuthInfo,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub context: Context,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    #[serde(default, deserialize_with = "null_default")]
    pub cluster: String,
    #[serde(default, deserialize_with = "null_default")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `null` (as client-go writes empty lists) reads as the default.
fn null_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The first line of a parser's message: the YAML parser goes on to quote the input, which may
/// hold credentials.
fn parse_error(e: impl std::fmt::Display) -> KubeconfigError {
    KubeconfigError::Parse(e.to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_string())
}

impl Config {
    /// Reads a kubeconfig in YAML or JSON; an empty (or comment-only) text is an empty config.
    pub fn parse(text: &str) -> Result<Self, KubeconfigError> {
        let trimmed = text.trim_start_matches('\u{feff}').trim();
        let parsed: Option<Self> = if trimmed.starts_with('{') {
            serde_json::from_str(trimmed).map_err(parse_error)?
        } else if trimmed.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            None
        } else {
            serde_saphyr::from_str(trimmed).map_err(parse_error)?
        };
        Ok(parsed.unwrap_or_default())
    }

    /// Renders the config as YAML, with `apiVersion: v1` and `kind: Config`.
    pub fn to_yaml(&self) -> Result<String, KubeconfigError> {
        let mut config = self.clone();
        config.api_version = "v1".to_string();
        config.kind = "Config".to_string();
        serde_saphyr::to_string(&config).map_err(|e| KubeconfigError::Render(e.to_string()))
    }

    pub fn cluster(&self, name: &str) -> Option<&NamedCluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    pub fn user(&self, name: &str) -> Option<&NamedUser> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn context(&self, name: &str) -> Option<&NamedContext> {
        self.contexts.iter().find(|c| c.name == name)
    }
}
