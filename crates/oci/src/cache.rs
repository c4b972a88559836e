//! The on-disk image cache and its per-digest locks.
//!
//! Layout under the cache directory:
//! - `rootfs/sha256/<hex>`: an unpacked root filesystem, named by its platform manifest digest;
//!   it appears by an atomic rename and is never modified afterwards.
//! - `images/sha256/<hex>.json`: the runtime config of that manifest.
//! - `refs/<hash of reference>.json`: which digests a tag (or pinned digest) resolved to.
//! - `locks/sha256-<hex>.lock`: `flock`ed while a digest is being unpacked, so concurrent
//!   pulls (tasks or processes) unpack once and never see a half-written tree.
//! - `tmp/`: downloads and unpacks in progress, on the same filesystem so renames are atomic.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::puller::ImageConfig;

pub(crate) struct Cache {
    root: PathBuf,
}

/// What a reference resolved to when it was last pulled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RefRecord {
    pub digest: Digest,
    pub manifest_digest: Digest,
}

/// Holds a digest's lock file; the `flock` is released when this is dropped.
pub(crate) struct DigestLock {
    _file: fs::File,
}

impl Cache {
    pub(crate) fn open(root: &Path) -> io::Result<Self> {
        for dir in ["rootfs/sha256", "images/sha256", "refs", "locks", "tmp"] {
            fs::create_dir_all(root.join(dir))?;
        }
        Ok(Self { root: root.to_owned() })
    }

    pub(crate) fn rootfs(&self, manifest: &Digest) -> PathBuf {
        self.root.join("rootfs").join(manifest.relative_path())
    }

    pub(crate) fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Waits for the exclusive lock of `digest` without blocking the async runtime.
    pub(crate) async fn lock(&self, digest: &Digest) -> io::Result<DigestLock> {
        let path = self.root.join("locks").join(format!("sha256-{}.lock", digest.hex()));
        tokio::task::spawn_blocking(move || {
            let file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
            file.lock()?;
            Ok(DigestLock { _file: file })
        })
        .await
        .map_err(io::Error::other)?
    }

    pub(crate) fn read_ref(&self, key: &str) -> Option<RefRecord> {
        read_json(&self.ref_path(key))
    }

    pub(crate) fn write_ref(&self, key: &str, record: &RefRecord) -> io::Result<()> {
        self.write_json(&self.ref_path(key), record)
    }

    pub(crate) fn read_config(&self, manifest: &Digest) -> Option<ImageConfig> {
        read_json(&self.config_path(manifest))
    }

    pub(crate) fn write_config(&self, manifest: &Digest, config: &ImageConfig) -> io::Result<()> {
        self.write_json(&self.config_path(manifest), config)
    }

    fn ref_path(&self, key: &str) -> PathBuf {
        // Hash the key: references contain `/` and `:` and can be 255+ bytes long.
        self.root.join("refs").join(format!("{}.json", Digest::of(key.as_bytes()).hex()))
    }

    fn config_path(&self, manifest: &Digest) -> PathBuf {
        self.root.join("images").join(manifest.relative_path()).with_extension("json")
    }

    /// Writes through a temp file and a rename, so readers never see a partial record.
    fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(self.tmp())?;
        tmp.write_all(&serde_json::to_vec(value)?)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// A missing or unreadable record is a cache miss: the pull path rewrites it.
fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}
