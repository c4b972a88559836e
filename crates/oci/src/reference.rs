//! Image references (`registry:5000/ns/app:1.0`, `busybox`, `app@sha256:...`) with Docker's
//! normalisation: no registry means `docker.io`, a single-component name on Docker Hub lives in
//! `library/`, and no tag or digest means `:latest`.

use std::fmt;

use crate::digest::{Digest, DigestError};

/// Docker Hub's canonical registry name in references.
pub const DOCKER_HUB: &str = "docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A normalised image reference.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why an image reference was refused; the message names the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The reference is empty.
    #[error("invalid reference format: empty image name")]
    Empty,
    /// The repository path contains uppercase letters.
    #[error("invalid reference format: repository name {0:?} must be lowercase")]
    Uppercase(String),
    /// The registry part is not a valid `host[:port]`.
    #[error("invalid reference format: bad registry host {0:?}")]
    Registry(String),
    /// A path component does not match `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
    #[error("invalid reference format: bad repository name component {0:?}")]
    Component(String),
    /// The tag does not match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("invalid reference format: bad tag {0:?}")]
    Tag(String),
    /// The name is longer than 255 characters.
    #[error("invalid reference format: repository name longer than 255 characters")]
    TooLong,
    /// The digest after `@` is not a valid sha256 digest.
    #[error("invalid reference format: {0}")]
    Digest(#[from] DigestError),
}

impl ImageRef {
    /// Parses and normalises a reference the way `docker pull` and the kubelet do.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((n, d)) => (n, Some(Digest::parse(d)?)),
            None => (input, None),
        };
        // A tag is a `:` after the last `/`; earlier colons belong to the registry's port.
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_and_tag[..at], Some(&name_and_tag[at + 1..]))
            }
            None => (name_and_tag, None),
        };
        if name.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if let Some(tag) = tag {
            validate_tag(tag)?;
        }
        if name.len() > MAX_NAME_LEN {
            return Err(ReferenceError::TooLong);
        }

        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if looks_like_registry(first) => (first, rest),
            _ => (DOCKER_HUB, name),
        };
        validate_registry(registry)?;
        let registry = if registry == "index.docker.io" { DOCKER_HUB } else { registry };
        if path.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(path.to_owned()));
        }
        for component in path.split('/') {
            validate_component(component)?;
        }
        let repository =
            if registry == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path.to_owned() };
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, None) => Some("latest".to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Self { registry: registry.to_owned(), repository, tag, digest })
    }

    /// The registry as written in the reference (`docker.io`, `registry:5000`); this is the key
    /// for credentials and `insecure_registries`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`library/busybox`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any (always set when there is no digest).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The pinned digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to ask the registry's manifests endpoint for: the digest when pinned, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImageRef({self})")
    }
}

impl std::str::FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Docker's rule: the first component is a registry if it has a `.` or `:`, or is `localhost`.
fn looks_like_registry(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost"
}

fn validate_registry(registry: &str) -> Result<(), ReferenceError> {
    let bad = || ReferenceError::Registry(registry.to_owned());
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        // IPv6 literal: `[::1]:5000`.
        let (addr, after) = rest.split_once(']').ok_or_else(bad)?;
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(bad());
        }
        match after {
            "" => return Ok(()),
            p => (None, Some(p.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match registry.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(registry), None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    if let Some(host) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if host.is_empty() || !host.split('.').all(label_ok) {
            return Err(bad());
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn validate_component(c: &str) -> Result<(), ReferenceError> {
    let bad = || ReferenceError::Component(c.to_owned());
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(bad());
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or any number of `-`.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = tag.as_bytes();
    let ok =
        !b.is_empty() && b.len() <= MAX_TAG_LEN && word(b[0]) && b.iter().all(|&x| word(x) || x == b'.' || x == b'-');
    if ok { Ok(()) } else { Err(ReferenceError::Tag(tag.to_owned())) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn norm(s: &str) -> String {
        ImageRef::parse(s).map(|r| r.to_string()).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn docker_defaulting_rules() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("ns/app"), "docker.io/ns/app:latest");
        assert_eq!(norm("index.docker.io/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("registry:5000/ns/app:1.0"), "registry:5000/ns/app:1.0");
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(norm("quay.io/a/b/c:v1"), "quay.io/a/b/c:v1");
        assert_eq!(norm("[::1]:5000/app:x"), "[::1]:5000/app:x");
        assert_eq!(norm(&format!("app@{D}")), format!("docker.io/library/app@{D}"));
        assert_eq!(norm(&format!("r.io/app:1@{D}")), format!("r.io/app:1@{D}"));
        let r = ImageRef::parse("registry:5000/ns/app:1.0").expect("valid");
        assert_eq!((r.registry(), r.repository(), r.tag()), ("registry:5000", "ns/app", Some("1.0")));
        assert_eq!(r.manifest_reference(), "1.0");
        let r = ImageRef::parse(&format!("app:1@{D}")).expect("valid");
        assert_eq!(r.manifest_reference(), D);
    }

    #[test]
    fn clear_errors() {
        for (input, want) in [
            ("", "empty"),
            ("Busybox", "must be lowercase"),
            ("ns/App", "must be lowercase"),
            ("app:", "bad tag"),
            ("app:-x", "bad tag"),
            ("app@sha256:xyz", "64 lowercase hex"),
            ("app@md5:00", "unsupported digest algorithm"),
            ("reg:99x/app", "bad registry"),
            ("a//b", "component"),
            ("app_-x", "component"),
            ("-app", "component"),
            ("/app", "component"),
            ("app/", "component"),
        ] {
            let got = norm(input);
            assert!(got.starts_with("error:") && got.contains(want), "{input:?}: {got}");
        }
    }

    proptest! {
        // Arbitrary input never panics, and whatever parses round-trips through Display.
        #[test]
        fn parse_never_panics_and_round_trips(s in "\\PC{0,80}") {
            if let Ok(r) = ImageRef::parse(&s) {
                let again = ImageRef::parse(&r.to_string()).expect("normalised form parses");
                prop_assert_eq!(again, r);
            }
        }

        #[test]
        fn structured_references_round_trip(
            host in "[a-z][a-z0-9-]{0,8}[a-z0-9](\\.[a-z]{2,5})?(:[0-9]{1,5})?",
            path in "[a-z0-9]{1,6}(([._]|__|-+)[a-z0-9]{1,4}){0,2}(/[a-z0-9]{1,6}){0,3}",
            tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
        ) {
            let input = format!("{host}/{path}:{tag}");
            let r = ImageRef::parse(&input);
            prop_assert!(r.is_ok(), "{input}: {r:?}");
        }
    }
}
