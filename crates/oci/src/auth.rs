//! Registry credentials from Kubernetes pull secrets, and the `WWW-Authenticate` challenges
//! registries answer with (Basic, and Bearer with a token service).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A username and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    // Never print the password: errors and traces end up in pod events.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// Why a pull secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The secret is not a `.dockerconfigjson` document.
    #[error("invalid .dockerconfigjson: {0}")]
    Json(#[from] serde_json::Error),
    /// The matching entry's `auth` is not base64 of `user:password`.
    #[error("invalid auth entry for {0:?}: expected base64 of \"username:password\"")]
    Auth(String),
}

#[derive(serde::Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

impl Credentials {
    /// Basic credentials.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self { username: username.into(), password: password.into() }
    }

    /// Finds the credentials for `registry_host` (as in [`crate::ImageRef::registry`]) in the
    /// bytes of a `kubernetes.io/dockerconfigjson` secret's `.dockerconfigjson`.
    ///
    /// Keys match like the kubelet's: a scheme and path are ignored (`https://r:5000/v2/`),
    /// Docker Hub's aliases (`https://index.docker.io/v1/`) match `docker.io`, and a leading
    /// `*.` label matches any single label. An exact match wins over a wildcard. Returns
    /// `Ok(None)` when no key matches.
    pub fn from_dockerconfigjson(bytes: &[u8], registry_host: &str) -> Result<Option<Self>, CredentialsError> {
        let config: DockerConfig = serde_json::from_slice(bytes)?;
        let want = canonical_host(registry_host);
        let mut wildcard = None;
        for (key, entry) in &config.auths {
            let host = canonical_host(key_host(key));
            if host == want {
                return entry_credentials(key, entry).map(Some);
            }
            if wildcard.is_none() && wildcard_matches(&host, &want) {
                wildcard = Some((key, entry));
            }
        }
        wildcard.map(|(key, entry)| entry_credentials(key, entry)).transpose()
    }

    pub(crate) fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", STANDARD.encode(raw))
    }
}

fn entry_credentials(key: &str, entry: &AuthEntry) -> Result<Credentials, CredentialsError> {
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| CredentialsError::Auth(key.to_owned()))?;
        let (user, pass) = decoded.split_once(':').ok_or_else(|| CredentialsError::Auth(key.to_owned()))?;
        return Ok(Credentials::new(user, pass));
    }
    Ok(Credentials::new(entry.username.clone().unwrap_or_default(), entry.password.clone().unwrap_or_default()))
}

/// `https://host:port/v2/` -> `host:port`.
fn key_host(key: &str) -> &str {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

fn canonical_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            crate::reference::DOCKER_HUB.to_owned()
        }
        _ => host,
    }
}

/// `*.example.com` matches `a.example.com` (one label, same port), like the kubelet's keyring.
fn wildcard_matches(pattern: &str, host: &str) -> bool {
    let Some(suffix) = pattern.strip_prefix("*.") else {
        return false;
    };
    host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == suffix)
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

/// Parses the first Basic or Bearer challenge of a `WWW-Authenticate` value.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    let get = |k: &str| params.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
    Some(Challenge::Bearer { realm: get("realm")?, service: get("service"), scope: get("scope") })
}

/// `k="v", k2=v2` (quoted values may contain commas, as scopes do).
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && *c != ',') {
            name.push(c);
        }
        if name.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => value.extend(chars.next()),
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| *c != ',') {
                    value.push(c);
                }
            }
        }
        out.push((name.trim().to_owned(), value.trim().to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerconfigjson_auth_and_username_password() {
        let auth = STANDARD.encode("alice:pa:ss");
        let json = format!(
            r#"{{"auths":{{
                "https://index.docker.io/v1/":{{"auth":"{auth}"}},
                "registry:5000":{{"username":"bob","password":"pw"}},
                "*.corp.example":{{"username":"wild","password":"w"}},
                "bad.example":{{"auth":"!!"}}
            }}}}"#
        );
        let get = |h: &str| Credentials::from_dockerconfigjson(json.as_bytes(), h);
        assert_eq!(get("docker.io").expect("ok"), Some(Credentials::new("alice", "pa:ss")));
        assert_eq!(get("registry:5000").expect("ok"), Some(Credentials::new("bob", "pw")));
        assert_eq!(get("r.corp.example").expect("ok"), Some(Credentials::new("wild", "w")));
        assert_eq!(get("a.b.corp.example").expect("ok"), None);
        assert_eq!(get("registry:5001").expect("ok"), None);
        assert!(matches!(get("bad.example"), Err(CredentialsError::Auth(_))));
        assert!(Credentials::from_dockerconfigjson(b"nope", "x").is_err());
        assert!(!format!("{:?}", Credentials::new("u", "secret")).contains("secret"));
    }

    #[test]
    fn challenges() {
        assert_eq!(parse_challenge(r#"Basic realm="Registry Realm""#), Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge("bearer realm=https://t/token"),
            Some(Challenge::Bearer { realm: "https://t/token".into(), service: None, scope: None })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }
}
