//! `canopy login` and `canopy logout` edits of a kubeconfig.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Map;

use super::{AuthInfo, Cluster, Config, Context, KubeconfigError, NamedCluster, NamedContext, NamedUser};

/// The entry names one login writes, derived from the server URL, the user and the namespaces
/// the user may use:
/// - the cluster `canopy-<host>-<port>` (port 443 when the URL has none);
/// - the user `<user>@<cluster>`;
/// - a context named after the server (`<host>`, or `<host>:<port>` off port 443) with no
///   namespace, for cluster-scoped work, as `kubectl vsphere login` names the VIP context;
/// - a context per namespace, named after the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginEntries {
    pub server: String,
    pub cluster: String,
    pub user: String,
    pub server_context: String,
    /// Namespace names, in the order given, without duplicates; each is also its context's name.
    pub namespaces: Vec<String>,
}

impl LoginEntries {
    pub fn new(server_url: &str, user_name: &str, namespaces: &[String]) -> Result<Self, KubeconfigError> {
        let (server, host, port) = parse_server(server_url)?;
        let user_name = user_name.trim();
        if user_name.is_empty() {
            return Err(KubeconfigError::EmptyUser);
        }
        let cluster = format!("canopy-{host}-{port}");
        let bracketed = if host.contains(':') { format!("[{host}]") } else { host.clone() };
        let server_context = if port == 443 { host.clone() } else { format!("{bracketed}:{port}") };
        let mut unique: Vec<String> = Vec::new();
        for ns in namespaces {
            if !is_dns_label(ns) {
                return Err(KubeconfigError::InvalidNamespace(ns.clone()));
            }
            if !unique.contains(ns) {
                unique.push(ns.clone());
            }
        }
        Ok(Self { server, user: format!("{user_name}@{cluster}"), cluster, server_context, namespaces: unique })
    }

    /// Every context name this login writes: the server context, then the namespaces.
    pub fn contexts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.server_context.as_str()).chain(self.namespaces.iter().map(String::as_str))
    }
}

/// Writes a login into `existing` (YAML or JSON; `None` or empty for a new file) and returns the
/// YAML: one cluster trusting `ca_pem` (empty for the system roots), one user with `token`, and
/// the contexts of [`LoginEntries`]. Entries of the same names are replaced, contexts left from
/// an earlier login of the same user to the same cluster are dropped, everything else is kept.
/// `current` names the context to switch to (it must exist afterwards); without it, the current
/// context is kept unless it is unset or dangling, and then becomes the server context.
pub fn login_kubeconfig(
    existing: Option<&str>,
    server_url: &str,
    ca_pem: &str,
    user_name: &str,
    token: &str,
    namespaces: &[String],
    current: Option<&str>,
) -> Result<String, KubeconfigError> {
    let entries = LoginEntries::new(server_url, user_name, namespaces)?;
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(KubeconfigError::InvalidToken);
    }
    let ca_data = match ca_pem.trim() {
        "" => None,
        pem if pem.contains("-----BEGIN CERTIFICATE-----") => Some(STANDARD.encode(ca_pem)),
        _ => return Err(KubeconfigError::InvalidCa),
    };
    let mut config = Config::parse(existing.unwrap_or_default())?;

    config.clusters.retain(|c| c.name != entries.cluster);
    config.clusters.push(NamedCluster {
        name: entries.cluster.clone(),
        cluster: Cluster { server: entries.server.clone(), certificate_authority_data: ca_data, extra: Map::new() },
        extra: Map::new(),
    });

    config.users.retain(|u| u.name != entries.user);
    config.users.push(NamedUser {
        name: entries.user.clone(),
        user: AuthInfo { token: Some(token.to_string()), extra: Map::new() },
        extra: Map::new(),
    });

    config.contexts.retain(|c| {
        let ours = c.context.user == entries.user && c.context.cluster == entries.cluster;
        !ours && !entries.contexts().any(|name| name == c.name)
    });
    let context = |name: &str, namespace: Option<&str>| NamedContext {
        name: name.to_string(),
        context: Context {
            cluster: entries.cluster.clone(),
            user: entries.user.clone(),
            namespace: namespace.map(str::to_string),
            extra: Map::new(),
        },
        extra: Map::new(),
    };
    config.contexts.push(context(&entries.server_context, None));
    config.contexts.extend(entries.namespaces.iter().map(|ns| context(ns, Some(ns))));

    match current {
        Some(name) if config.context(name).is_none() => return Err(KubeconfigError::UnknownContext(name.to_string())),
        Some(name) => config.current_context = name.to_string(),
        None if config.context(&config.current_context).is_none() => {
            config.current_context = entries.server_context.clone();
        }
        None => {}
    }
    config.to_yaml()
}

/// Removes the token of the user entry `user_entry_name` (a [`LoginEntries::user`]) and returns
/// the YAML; the entry and its contexts stay, so a later login fills them in again. A missing
/// entry is not an error (logging out twice is fine).
pub fn logout_kubeconfig(existing: &str, user_entry_name: &str) -> Result<String, KubeconfigError> {
    let mut config = Config::parse(existing)?;
    for user in config.users.iter_mut().filter(|u| u.name == user_entry_name) {
        user.user.token = None;
    }
    config.to_yaml()
}

/// The token of the user entry `user_entry_name`, for `canopy logout` to revoke it on the
/// server before removing it.
pub fn user_token(existing: &str, user_entry_name: &str) -> Result<Option<String>, KubeconfigError> {
    Ok(Config::parse(existing)?.user(user_entry_name).and_then(|u| u.user.token.clone()))
}

/// Splits `https://host[:port][/path]` into the URL to write (without a trailing `/`), the
/// host (IPv6 without brackets, lowercased) and the port.
fn parse_server(url: &str) -> Result<(String, String, u16), KubeconfigError> {
    let invalid = || KubeconfigError::InvalidServer(url.to_string());
    let url = url.trim();
    let rest = url.get(..8).filter(|s| s.eq_ignore_ascii_case("https://")).map(|_| &url[8..]).ok_or_else(invalid)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(invalid)?;
        if !host.contains(':') || !host.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err(invalid());
        }
        let port = match after {
            "" => "443",
            after => after.strip_prefix(':').ok_or_else(invalid)?,
        };
        (host, port)
    } else {
        authority.split_once(':').unwrap_or((authority, "443"))
    };
    let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(invalid)?;
    let host_ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ':';
    if host.is_empty() || !host.chars().all(host_ok) {
        return Err(invalid());
    }
    let server = url.trim_end_matches('/');
    if server.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    Ok((server.to_string(), host.to_ascii_lowercase(), port))
}

/// A DNS-1123 label: what a namespace name is.
fn is_dns_label(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(alnum)
        && name.ends_with(alnum)
        && name.chars().all(|c| alnum(c) || c == '-')
}
