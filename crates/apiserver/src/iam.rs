//! The platform's built-in directory (its SSO domain): `User` and `Group` objects in
//! `iam.canopy.io/v1alpha1`, login with a password (`POST /wcp/login`, the endpoint
//! `kubectl vsphere login` calls), short-lived bearer tokens and their revocation.
//!
//! Users and groups are cluster-scoped objects readable and writable only by admins (RBAC);
//! the server keeps a snapshot for authentication, refreshed whenever one changes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine;
use canopy_identity::{Group, LoginThrottle, RevocationList, Subject, ThrottleKey, TokenIssuer, User};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::objects::{ListParams, Objects};

pub const GROUP: &str = "iam.canopy.io";
/// How long a login token is valid (a working day, as `kubectl vsphere login` sessions).
pub const TOKEN_TTL: Duration = Duration::from_secs(10 * 3600);

fn crd(kind: &str, plural: &str, spec: Value, columns: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{GROUP}"), "labels": {"canopy.io/built-in": "true"}},
        "spec": {
            "group": GROUP,
            "scope": "Cluster",
            "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind, "categories": ["canopy"]},
            "versions": [{
                "name": "v1alpha1", "served": true, "storage": true,
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": spec}}},
            }],
        },
    })
}

/// The CRDs of the directory, created on first start.
pub fn crds() -> Vec<Value> {
    let names = json!({"type": "array", "items": {"type": "string"}});
    vec![
        crd(
            "User",
            "users",
            json!({"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "description": "The qualified user name, e.g. alice@vsphere.local."},
                "groups": names.clone(),
                "passwordHash": {"type": "string", "description": "argon2id PHC string; never the password."},
                "disabled": {"type": "boolean"},
            }}),
            json!([{"name": "User", "type": "string", "jsonPath": ".spec.name"}, {"name": "Disabled", "type": "boolean", "jsonPath": ".spec.disabled"}]),
        ),
        crd(
            "Group",
            "groups",
            json!({"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "description": "The qualified group name, e.g. devs@vsphere.local."},
                "members": names,
            }}),
            json!([{"name": "Group", "type": "string", "jsonPath": ".spec.name"}]),
        ),
    ]
}

#[derive(Default)]
struct Snapshot {
    users: HashMap<String, User>,
    groups: Vec<Group>,
}

/// What a genuine token stands for.
pub enum Verified {
    User(canopy_rbac::UserInfo),
    ServiceAccount { namespace: String, name: String, uid: String },
}

/// How a ServiceAccount token records the account's uid among its claims.
const SA_UID_MARKER: &str = "canopy.io/serviceaccount-uid=";

/// Users, groups, tokens and login throttling.
pub struct Directory {
    snapshot: RwLock<Snapshot>,
    issuer: TokenIssuer,
    revoked: Mutex<RevocationList>,
    revoked_path: PathBuf,
    throttle: Mutex<LoginThrottle>,
}

fn from_spec<T: serde::de::DeserializeOwned>(obj: &Value) -> Option<T> {
    serde_json::from_value(obj.get("spec")?.clone()).ok()
}

impl Directory {
    /// Loads (or creates) the token signing key and the revocations in `pki_dir`.
    pub fn open(pki_dir: &std::path::Path) -> anyhow::Result<Self> {
        let key_path = pki_dir.join("token.key");
        let key = match std::fs::read_to_string(&key_path) {
            Ok(text) => {
                TokenIssuer::decode_key(text.trim()).map_err(|e| anyhow::anyhow!("{}: {e}", key_path.display()))?
            }
            Err(_) => {
                let key = TokenIssuer::generate_key();
                crate::pki::write_private(&key_path, &TokenIssuer::encode_key(&key))?;
                key
            }
        };
        let revoked_path = pki_dir.join("revoked-tokens.json");
        let mut revoked = RevocationList::new();
        if let Ok(text) = std::fs::read_to_string(&revoked_path) {
            let entries: Vec<(String, u64)> = serde_json::from_str(&text).unwrap_or_default();
            for (id, exp) in entries {
                revoked.revoke(id, exp);
            }
        }
        Ok(Self {
            snapshot: RwLock::default(),
            issuer: TokenIssuer::new(key),
            revoked: Mutex::new(revoked),
            revoked_path,
            throttle: Mutex::new(LoginThrottle::default()),
        })
    }

    pub async fn refresh(&self, objects: &Objects) -> ApiResult<()> {
        let mut snapshot = Snapshot::default();
        if let Some(res) = objects.registry.get(GROUP, "v1alpha1", "users") {
            for obj in objects.list(&res, None, &ListParams::default(), &|_| true).await?.items {
                if let Some(u) = from_spec::<User>(&obj) {
                    snapshot.users.insert(u.name.clone(), u);
                }
            }
        }
        if let Some(res) = objects.registry.get(GROUP, "v1alpha1", "groups") {
            for obj in objects.list(&res, None, &ListParams::default(), &|_| true).await?.items {
                snapshot.groups.extend(from_spec::<Group>(&obj));
            }
        }
        *self.snapshot.write().expect("directory lock poisoned") = snapshot;
        Ok(())
    }

    /// The user a token stands for, if it is genuine, current, not revoked, and its user still
    /// exists and is enabled. Group membership is read now, not from the token.
    pub fn authenticate(&self, token: &str) -> Option<canopy_rbac::UserInfo> {
        match self.verify(token)? {
            Verified::User(user) => Some(user),
            Verified::ServiceAccount { .. } => None,
        }
    }

    /// Checks a token: a directory user (resolved now), or a ServiceAccount the caller must
    /// still find in the store with the same uid.
    pub fn verify(&self, token: &str) -> Option<Verified> {
        let claims = self.issuer.verify(token, SystemTime::now()).ok()?;
        if self.revoked.lock().expect("revocations lock poisoned").is_revoked(&claims.id) {
            return None;
        }
        if let Some(rest) = claims.user.strip_prefix(canopy_rbac::SERVICE_ACCOUNT_USER_PREFIX) {
            let (namespace, name) = rest.split_once(':')?;
            let uid = claims.groups.iter().find_map(|g| g.strip_prefix(SA_UID_MARKER))?.to_string();
            return Some(Verified::ServiceAccount { namespace: namespace.into(), name: name.into(), uid });
        }
        let snapshot = self.snapshot.read().expect("directory lock poisoned");
        let user = snapshot.users.get(&claims.user).filter(|u| !u.disabled)?;
        let groups: Vec<String> = canopy_identity::effective_groups(user, &snapshot.groups)
            .into_iter()
            .map(|g| if g.starts_with("system:") { g } else { canopy_identity::directory::qualified_name(&g) })
            .collect();
        let mut info = canopy_rbac::UserInfo::new(claims.user.clone()).with_groups(groups);
        info.extra.insert("canopy.io/token-id".into(), vec![claims.id]);
        Some(Verified::User(info))
    }

    /// A token for a ServiceAccount (TokenRequest), bound to the account's uid so a recreated
    /// account of the same name does not inherit it.
    pub fn issue_service_account_token(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        ttl: Duration,
    ) -> canopy_identity::IssuedToken {
        let user = canopy_rbac::service_account_username(namespace, name);
        let subject = Subject::new(user, [format!("{SA_UID_MARKER}{uid}")]);
        self.issuer.issue(&subject, ttl, SystemTime::now())
    }

    /// Checks a Basic-auth login; returns the user's name and a new token.
    pub fn login(
        &self,
        authorization: Option<&str>,
        client: IpAddr,
    ) -> ApiResult<(String, canopy_identity::IssuedToken)> {
        let (username, password) = basic_credentials(authorization).ok_or(ApiError::Unauthorized)?;
        let name = canopy_identity::directory::canonical_user_name(&username).map_err(|_| ApiError::Unauthorized)?;
        let key = ThrottleKey::new(&name, client);
        let now = SystemTime::now();
        if let Err(retry) = self.throttle.lock().expect("throttle lock poisoned").check(&key, now) {
            return Err(ApiError::TooManyRequestsAfter(retry.secs()));
        }
        let hash = {
            let snapshot = self.snapshot.read().expect("directory lock poisoned");
            snapshot.users.get(&name).filter(|u| !u.disabled).map(|u| u.password_hash.clone())
        };
        let ok = match &hash {
            Some(h) => canopy_identity::verify_password(&password, h).unwrap_or(false),
            None => canopy_identity::password::verify_unknown_user(&password),
        };
        let mut throttle = self.throttle.lock().expect("throttle lock poisoned");
        if !ok {
            throttle.record_failure(&key, now);
            tracing::info!(user = %name, %client, "login failed");
            return Err(ApiError::Unauthorized);
        }
        throttle.record_success(&key);
        let token = self.issuer.issue(&Subject::new(name.clone(), Vec::<String>::new()), TOKEN_TTL, now);
        tracing::info!(user = %name, %client, token_id = %token.id, "login");
        Ok((name, token))
    }

    /// Revokes a token (logout); it stays revoked across restarts until it would have expired.
    pub fn revoke(&self, token: &str) -> ApiResult<()> {
        let claims = self.issuer.verify(token, SystemTime::now()).map_err(|_| ApiError::Unauthorized)?;
        let mut revoked = self.revoked.lock().expect("revocations lock poisoned");
        revoked.revoke(claims.id, claims.expires_at);
        let now = SystemTime::now();
        revoked.prune(now);
        let entries: Vec<(String, u64)> = revoked.iter().map(|(id, exp)| (id.to_string(), exp)).collect();
        let text = serde_json::to_string(&entries).map_err(|e| ApiError::Internal(e.to_string()))?;
        crate::pki::write_private(&self.revoked_path, &text).map_err(|e| ApiError::Internal(e.to_string()))
    }
}

/// `Authorization: Basic base64(user:password)`.
fn basic_credentials(header: Option<&str>) -> Option<(String, String)> {
    let encoded = header?.strip_prefix("Basic ")?.trim();
    let raw = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Namespaces a user can work in: those where it may list pods or read the namespace.
pub async fn accessible_namespaces(
    objects: &Objects,
    rbac: &crate::auth::Rbac,
    user: &canopy_rbac::UserInfo,
) -> ApiResult<Vec<String>> {
    let res = objects.registry.get("", "v1", "namespaces").expect("namespaces are built in");
    let mut out = Vec::new();
    for ns in objects.list(&res, None, &ListParams::default(), &|o| !meta::is_deleting(o)).await?.items {
        let name = meta::name(&ns).to_string();
        let can = |attrs: canopy_rbac::ResourceAttributes| {
            rbac.authorize(user, &canopy_rbac::Attributes::Resource(attrs)).allowed
        };
        if can(canopy_rbac::ResourceAttributes::new("list", "", "pods").in_namespace(&name))
            || can(canopy_rbac::ResourceAttributes::new("get", "", "namespaces").named(&name))
        {
            out.push(name);
        }
    }
    Ok(out)
}

pub fn is_iam(group: &str) -> bool {
    group == GROUP
}
