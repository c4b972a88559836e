//! The JSON documents of an image: manifests, indexes (manifest lists) and the image config,
//! in both OCI and Docker v2 schema 2 media types. Only the fields a runtime needs are read.

use serde::Deserialize;

use crate::digest::Digest;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker v2 schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The `Accept` header for manifest requests, so the registry never falls back to schema 1.
pub(crate) const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

const CONFIG_TYPES: &[&str] =
    &["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

/// A content descriptor: what to fetch and how big it must be.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// The platform of an index entry.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Platform {
    pub os: String,
    pub architecture: String,
}

/// A parsed manifest document.
#[derive(Debug)]
pub(crate) enum Document {
    Index(Vec<Descriptor>),
    Manifest(ImageManifest),
}

#[derive(Debug, Clone)]
pub(crate) struct ImageManifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDocument {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

/// Parses a manifest or index. `content_type` is the response's Content-Type; the document's
/// own `mediaType` (optional in OCI) must agree with it when both are present.
pub(crate) fn parse_document(content_type: &str, body: &[u8]) -> Result<Document, String> {
    let raw: RawDocument = serde_json::from_slice(body).map_err(|e| format!("malformed manifest: {e}"))?;
    if raw.schema_version != 2 {
        return Err(format!("unsupported manifest schemaVersion {}", raw.schema_version));
    }
    let content_type = content_type.split(';').next().unwrap_or("").trim();
    let media_type = match (raw.media_type.as_deref(), content_type) {
        (Some(m), c) if !c.is_empty() && is_manifest_type(c) && m != c => {
            return Err(format!("manifest mediaType {m} disagrees with Content-Type {c}"));
        }
        (Some(m), _) => m.to_owned(),
        (None, c) if is_manifest_type(c) => c.to_owned(),
        // OCI allows omitting mediaType; tell the kinds apart by their fields.
        (None, _) if raw.manifests.is_some() => OCI_INDEX.to_owned(),
        (None, _) => OCI_MANIFEST.to_owned(),
    };
    match media_type.as_str() {
        OCI_INDEX | DOCKER_MANIFEST_LIST => Ok(Document::Index(raw.manifests.ok_or("index without manifests")?)),
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = raw.config.ok_or("manifest without config")?;
            if !CONFIG_TYPES.contains(&config.media_type.as_str()) {
                return Err(format!("unsupported config media type {:?}", config.media_type));
            }
            let layers = raw.layers.unwrap_or_default();
            for layer in &layers {
                layer_compression(&layer.media_type)?;
            }
            Ok(Document::Manifest(ImageManifest { config, layers }))
        }
        other => Err(format!("unsupported manifest media type {other:?}")),
    }
}

fn is_manifest_type(t: &str) -> bool {
    matches!(t, OCI_INDEX | DOCKER_MANIFEST_LIST | OCI_MANIFEST | DOCKER_MANIFEST)
}

/// The compression a layer media type declares; unknown types (encrypted layers, artifacts)
/// are refused rather than unpacked as garbage.
pub(crate) fn layer_compression(media_type: &str) -> Result<Compression, String> {
    let base = media_type
        .strip_prefix("application/vnd.oci.image.layer.nondistributable.v1.")
        .map(|rest| format!("application/vnd.oci.image.layer.v1.{rest}"));
    match base.as_deref().unwrap_or(media_type) {
        "application/vnd.oci.image.layer.v1.tar" | "application/vnd.docker.image.rootfs.diff.tar" => {
            Ok(Compression::None)
        }
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Ok(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar+zstd" => Ok(Compression::Zstd),
        other => Err(format!("unsupported layer media type {other:?}")),
    }
}

/// Picks the entry for `os`/`architecture` from an index.
pub(crate) fn select_platform<'a>(entries: &'a [Descriptor], os: &str, architecture: &str) -> Option<&'a Descriptor> {
    entries.iter().find(|d| {
        d.platform.as_ref().is_some_and(|p| p.os == os && p.architecture == architecture)
            && is_manifest_type(&d.media_type)
    })
}

/// The image config blob (only what a runtime needs).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfigFile {
    #[serde(default)]
    pub config: Option<RuntimeConfig>,
    pub rootfs: RootFs,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RuntimeConfig {
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn manifests_and_indexes() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
            "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"{D}","size":2}},
            "layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"{D}","size":3}}]}}"#
        );
        let Ok(Document::Manifest(doc)) = parse_document(DOCKER_MANIFEST, m.as_bytes()) else {
            panic!("manifest expected");
        };
        assert_eq!(doc.layers.len(), 1);
        assert!(parse_document(OCI_MANIFEST, m.as_bytes()).is_err(), "type mismatch");

        let i = format!(
            r#"{{"schemaVersion":2,"manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":2,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        );
        let Ok(Document::Index(entries)) = parse_document("", i.as_bytes()) else {
            panic!("index expected");
        };
        assert_eq!(select_platform(&entries, "linux", "amd64").map(|d| d.size), Some(2));
        assert!(select_platform(&entries, "linux", "s390x").is_none());
        assert!(parse_document("", br#"{"schemaVersion":1}"#).is_err());
        assert!(layer_compression("application/vnd.oci.image.layer.v1.tar+encrypted").is_err());
    }
}
