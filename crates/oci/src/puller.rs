//! `Puller`: resolves a reference to a platform manifest, and makes sure its root filesystem
//! is unpacked in the cache exactly once.

use std::io::{self, Seek as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::auth::Credentials;
use crate::cache::{Cache, RefRecord};
use crate::digest::Digest;
use crate::error::{Failure, PullError};
use crate::manifest::{self, ConfigFile, Document, ImageManifest};
use crate::reference::ImageRef;
use crate::registry::{RegistryClient, Transport};
use crate::unpack::Unpacker;

const MAX_CONFIG: usize = 16 << 20;

/// When to contact the registry, as in a container's `imagePullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Always resolve the reference at the registry (layers already unpacked are reused).
    Always,
    /// Use the cached image when present, without any network traffic.
    IfNotPresent,
    /// Only use the cache; fail with [`PullError::NotPresent`] otherwise.
    Never,
}

/// The operating system and architecture to select from multi-platform images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
}

impl Default for Platform {
    fn default() -> Self {
        Self { os: "linux".to_owned(), architecture: "amd64".to_owned() }
    }
}

/// How a [`Puller`] reaches registries and where it caches.
#[derive(Debug, Clone)]
pub struct PullerConfig {
    /// The cache directory (created if missing).
    pub cache_dir: PathBuf,
    /// Registries (`host:port` as written in image references) spoken to over plain HTTP.
    /// Every other registry requires HTTPS; there is never a fallback from one to the other.
    pub insecure_registries: Vec<String>,
    /// PEM CA certificates trusted in addition to the webpki (Mozilla) roots.
    pub ca_file: Option<PathBuf>,
    /// The platform chosen from indexes; linux/amd64 by default.
    pub platform: Platform,
}

impl PullerConfig {
    /// A config with HTTPS everywhere, the webpki roots and linux/amd64.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            insecure_registries: Vec::new(),
            ca_file: None,
            platform: Platform::default(),
        }
    }
}

/// What a runtime needs from the image config to start a process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`, as `KEY=value`.
    pub env: Vec<String>,
    /// `WorkingDir`, if set.
    pub working_dir: Option<String>,
    /// `User` (`uid`, `uid:gid`, or names resolved inside the image), if set.
    pub user: Option<String>,
}

/// A pulled image, ready for a runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The digest the reference resolved to (the index digest for multi-platform images): what
    /// the kubelet reports as the image ID and what `image@digest` pins.
    pub digest: Digest,
    /// The digest of the platform manifest that was unpacked (equal to `digest` for
    /// single-platform images).
    pub manifest_digest: Digest,
    /// The runtime config.
    pub config: ImageConfig,
    /// The unpacked root filesystem. Shared by every container of this image: runtimes must
    /// mount it read-only (or as an overlay lower layer) and never write into it.
    pub rootfs: PathBuf,
}

/// Pulls images into a local cache. Cheap to share behind an `Arc`; pulls may run concurrently.
pub struct Puller {
    cache: Cache,
    transport: Transport,
    platform: Platform,
}

impl Puller {
    /// Opens (creating) the cache and builds the HTTPS client.
    pub fn new(config: PullerConfig) -> io::Result<Self> {
        Ok(Self {
            cache: Cache::open(&config.cache_dir)?,
            transport: Transport::new(config.insecure_registries, config.ca_file.as_deref())?,
            platform: config.platform,
        })
    }

    /// Makes `image` available locally according to `policy`.
    #[tracing::instrument(skip_all, fields(image = %image, ?policy))]
    pub async fn pull(
        &self,
        image: &ImageRef,
        policy: PullPolicy,
        credentials: Option<&Credentials>,
    ) -> Result<Image, PullError> {
        if policy != PullPolicy::Always {
            if let Some(found) = self.cached(image) {
                tracing::debug!(digest = %found.digest, "image present in cache");
                return Ok(found);
            }
            if policy == PullPolicy::Never {
                return Err(PullError::NotPresent { image: image.to_string() });
            }
        }
        let pulled = self.pull_remote(image, credentials).await.map_err(|f| f.for_image(image))?;
        tracing::info!(digest = %pulled.digest, rootfs = %pulled.rootfs.display(), "image pulled");
        Ok(pulled)
    }

    /// The cached image for `image`, if its record and root filesystem are both present.
    fn cached(&self, image: &ImageRef) -> Option<Image> {
        let record = self.cache.read_ref(&ref_key(image))?;
        let rootfs = self.cache.rootfs(&record.manifest_digest);
        let config = self.cache.read_config(&record.manifest_digest)?;
        rootfs.is_dir().then_some(Image {
            digest: record.digest,
            manifest_digest: record.manifest_digest,
            config,
            rootfs,
        })
    }

    async fn pull_remote(&self, image: &ImageRef, credentials: Option<&Credentials>) -> Result<Image, Failure> {
        let mut client = RegistryClient::new(&self.transport, image.registry(), image.repository(), credentials);
        let top = client.manifest(&image.manifest_reference(), image.digest().map(|d| (d, None))).await?;
        let (manifest_digest, manifest) = match manifest::parse_document(&top.content_type, &top.body)
            .map_err(Failure::Invalid)?
        {
            Document::Manifest(m) => (top.digest.clone(), m),
            Document::Index(entries) => {
                let (os, arch) = (&self.platform.os, &self.platform.architecture);
                let entry = manifest::select_platform(&entries, os, arch).ok_or_else(|| {
                    Failure::NotFound(format!("no matching manifest for {os}/{arch} in the manifest list entries"))
                })?;
                let child = client.manifest(&entry.digest.to_string(), Some((&entry.digest, Some(entry.size)))).await?;
                match manifest::parse_document(&child.content_type, &child.body).map_err(Failure::Invalid)? {
                    Document::Manifest(m) => (child.digest, m),
                    Document::Index(_) => return Err(Failure::Invalid("index entry points at another index".into())),
                }
            }
        };

        let config = {
            let _lock = self.cache.lock(&manifest_digest).await.map_err(|e| Failure::storage("locking cache", e))?;
            match self.cache.read_config(&manifest_digest) {
                Some(config) if self.cache.rootfs(&manifest_digest).is_dir() => config,
                _ => self.unpack(&mut client, &manifest_digest, &manifest).await?,
            }
        };
        let record = RefRecord { digest: top.digest, manifest_digest };
        // Record both the reference as written and its pinned form, so later IfNotPresent pulls
        // by either name are served from the cache.
        for key in [ref_key(image), digest_key(image, &record.digest)] {
            self.cache.write_ref(&key, &record).map_err(|e| Failure::storage("writing image record", e))?;
        }
        Ok(Image {
            rootfs: self.cache.rootfs(&record.manifest_digest),
            digest: record.digest,
            manifest_digest: record.manifest_digest,
            config,
        })
    }

    /// Downloads and unpacks every layer into a temp dir, then renames it into place. The
    /// caller holds the digest's lock.
    async fn unpack(
        &self,
        client: &mut RegistryClient<'_>,
        manifest_digest: &Digest,
        manifest: &ImageManifest,
    ) -> Result<ImageConfig, Failure> {
        let config_bytes = client.blob_bytes(&manifest.config, MAX_CONFIG).await?;
        let config_file: ConfigFile = serde_json::from_slice(&config_bytes)
            .map_err(|e| Failure::Invalid(format!("malformed image config: {e}")))?;
        if config_file.rootfs.kind != "layers" || config_file.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(Failure::Invalid(format!(
                "image config lists {} diff_ids of type {:?} for {} layers",
                config_file.rootfs.diff_ids.len(),
                config_file.rootfs.kind,
                manifest.layers.len()
            )));
        }
        let storage = |context: &'static str| move |e: io::Error| Failure::storage(context, e);
        let tmp = tempfile::Builder::new()
            .prefix("rootfs-")
            .tempdir_in(self.cache.tmp())
            .map_err(storage("creating temp dir"))?;
        let mut unpacker = Unpacker::new(tmp.path()).map_err(storage("creating temp dir"))?;
        for (layer, diff_id) in manifest.layers.iter().zip(&config_file.rootfs.diff_ids) {
            let compression = manifest::layer_compression(&layer.media_type).map_err(Failure::Invalid)?;
            let blob = tempfile::tempfile_in(self.cache.tmp()).map_err(storage("creating temp file"))?;
            let mut async_blob = tokio::fs::File::from_std(blob.try_clone().map_err(storage("creating temp file"))?);
            client.blob_to_file(layer, &mut async_blob).await?;
            drop(async_blob);
            let diff_id = diff_id.clone();
            let span = tracing::debug_span!("unpack_layer", digest = %layer.digest);
            unpacker = tokio::task::spawn_blocking(move || {
                let _enter = span.enter();
                let mut blob = blob;
                blob.rewind().map_err(|e| Failure::storage("reading blob", e))?;
                unpacker.apply_layer(io::BufReader::new(blob), compression, &diff_id)?;
                Ok::<_, Failure>(unpacker)
            })
            .await
            .map_err(|e| Failure::Storage(format!("unpack task failed: {e}")))??;
        }
        tokio::task::spawn_blocking(move || unpacker.finish())
            .await
            .map_err(|e| Failure::Storage(format!("unpack task failed: {e}")))?
            .map_err(storage("setting directory modes"))?;

        let config = runtime_config(config_file);
        let target = self.cache.rootfs(manifest_digest);
        // The temp dir is 0700; the container's `/` must be traversable by every user.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(storage("setting rootfs mode"))?;
        install(tmp, &target).map_err(storage("moving rootfs into place"))?;
        self.cache.write_config(manifest_digest, &config).map_err(storage("writing image config"))?;
        Ok(config)
    }
}

/// Renames the finished tree into place; if a stale tree is there (a crash between rename and
/// record on an earlier run), it is replaced.
fn install(tmp: tempfile::TempDir, target: &Path) -> io::Result<()> {
    if target.exists() {
        std::fs::remove_dir_all(target)?;
    }
    std::fs::rename(tmp.path(), target)?;
    // Renamed away: nothing left for the guard to delete.
    let _ = tmp.keep();
    Ok(())
}

fn runtime_config(file: ConfigFile) -> ImageConfig {
    let c = file.config.unwrap_or_default();
    ImageConfig {
        entrypoint: c.entrypoint.unwrap_or_default(),
        cmd: c.cmd.unwrap_or_default(),
        env: c.env.unwrap_or_default(),
        working_dir: c.working_dir.filter(|w| !w.is_empty()),
        user: c.user.filter(|u| !u.is_empty()),
    }
}

fn ref_key(image: &ImageRef) -> String {
    image.to_string()
}

fn digest_key(image: &ImageRef, digest: &Digest) -> String {
    format!("{}/{}@{digest}", image.registry(), image.repository())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Agents spawn pulls onto the runtime, so the future must be `Send`.
    #[test]
    fn pull_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let dir = tempfile::tempdir().expect("tempdir");
        let puller = Puller::new(PullerConfig::new(dir.path())).expect("puller");
        let image = ImageRef::parse("busybox").expect("reference");
        let future = puller.pull(&image, PullPolicy::Never, None);
        assert_send(&future);
    }
}
