//! The platform's built-in directory: the [`User`] and [`Group`] shapes stored as API objects
//! (camelCase JSON), the rules for their names, the SSO domain, and a user's effective groups.
//!
//! User names are domain-qualified like vCenter SSO principals (`alice@vsphere.local`); a bare
//! name means the default domain [`DEFAULT_SSO_DOMAIN`]. Names are lowercase: login input is
//! lowercased by [`canonical_user_name`] first. Does not own storing or listing the objects.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The SSO domain of the built-in directory, as in vSphere.
pub const DEFAULT_SSO_DOMAIN: &str = "vsphere.local";

/// The group every authenticated user is in (as upstream Kubernetes).
pub const SYSTEM_AUTHENTICATED: &str = "system:authenticated";

/// The longest user or group name (a DNS-1123 subdomain's limit).
pub const MAX_NAME_LEN: usize = 253;

/// Why a user or group name is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name must not be empty")]
    Empty,
    #[error("name must be at most {max} characters", max = MAX_NAME_LEN)]
    TooLong,
    #[error(
        "invalid name {0:?}: must consist of lower case alphanumeric characters, '-', '.' or one '@', and start and end with an alphanumeric character"
    )]
    Invalid(String),
}

/// A user of the built-in directory.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The qualified name, `alice@vsphere.local`.
    pub name: String,
    /// Groups the user is directly placed in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The argon2id PHC string ([`crate::password`]).
    #[serde(default)]
    pub password_hash: String,
    /// A disabled user cannot log in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("groups", &self.groups)
            .field("password_hash", &"<redacted>")
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// A group of the built-in directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// The qualified name, `devs@vsphere.local`.
    pub name: String,
    /// Qualified user names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

/// Checks a user or group name: lowercase alphanumerics, `-` and `.`, at most one `@`, each part
/// starting and ending with an alphanumeric character, at most [`MAX_NAME_LEN`] characters.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    let mut parts = name.split('@');
    let ok = parts.by_ref().take(2).all(valid_part) && parts.next().is_none();
    if ok { Ok(()) } else { Err(NameError::Invalid(name.to_string())) }
}

fn valid_part(part: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    part.starts_with(alnum) && part.ends_with(alnum) && part.chars().all(|c| alnum(c) || c == '-' || c == '.')
}

/// Splits `alice@corp.local` into `("alice", "corp.local")`; a bare `alice` is in the default domain.
pub fn split_name(name: &str) -> (&str, &str) {
    name.split_once('@').unwrap_or((name, DEFAULT_SSO_DOMAIN))
}

/// `alice` becomes `alice@vsphere.local`; a qualified name is returned as is.
pub fn qualified_name(name: &str) -> String {
    let (user, domain) = split_name(name);
    format!("{user}@{domain}")
}

/// The API object name of a qualified identity (`alice@vsphere.local` -> `alice.vsphere.local`):
/// object names cannot hold `@`. The object's `spec.name` keeps the qualified name.
pub fn object_name(qualified: &str) -> String {
    qualified.replace('@', ".")
}

/// The stored form of a name typed at login or on the command line: trimmed, lowercased,
/// qualified with the default domain, and validated.
pub fn canonical_user_name(input: &str) -> Result<String, NameError> {
    let name = qualified_name(&input.trim().to_lowercase());
    validate_name(&name)?;
    Ok(name)
}

/// The groups `user` belongs to: its direct groups, every group that lists it as a member
/// (names compared in qualified form), and [`SYSTEM_AUTHENTICATED`]; sorted, without duplicates,
/// `system:authenticated` last.
pub fn effective_groups(user: &User, all_groups: &[Group]) -> Vec<String> {
    let me = qualified_name(&user.name);
    let mut groups: BTreeSet<String> = user.groups.iter().cloned().collect();
    groups.extend(
        all_groups.iter().filter(|g| g.members.iter().any(|m| qualified_name(m) == me)).map(|g| g.name.clone()),
    );
    groups.remove(SYSTEM_AUTHENTICATED);
    let mut groups: Vec<String> = groups.into_iter().collect();
    groups.push(SYSTEM_AUTHENTICATED.to_string());
    groups
}
