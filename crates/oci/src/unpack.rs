//! Applies layer tarballs to a root filesystem directory, in order, with OCI whiteouts.
//!
//! Layers are untrusted input. Every path is resolved inside the root the way a chroot would
//! (`..` stops at the root, absolute symlink targets restart at the root), so neither `../`
//! entries nor symlinks planted by an earlier entry or layer can make a write land outside it.
//! Entries with `..` components are refused outright; device nodes and FIFOs are skipped (the
//! runtime provides `/dev`). The uncompressed stream must hash to the config's `diff_id`.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use tar::EntryType;

use crate::digest::{Digest, HashingReader};
use crate::manifest::Compression;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// Same bound as Linux's `MAXSYMLINKS`: a longer chain is a loop or an attack.
const MAX_SYMLINKS: u32 = 40;

/// Why a layer could not be applied.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UnpackError {
    /// The layer's content is malformed or hostile.
    #[error("{0}")]
    Invalid(String),
    /// Writing the root filesystem failed (disk full, permissions).
    #[error("writing root filesystem: {0}")]
    Io(#[from] io::Error),
}

fn invalid(msg: impl Into<String>) -> UnpackError {
    UnpackError::Invalid(msg.into())
}

/// Builds one root filesystem from a sequence of layers.
pub(crate) struct Unpacker {
    root: PathBuf,
    /// Ownership from the tar headers is applied only when running as root; elsewhere (tests,
    /// rootless development) files belong to the current user.
    preserve_owner: bool,
    /// Directory modes are applied after all layers, so a read-only directory from one layer
    /// does not stop a later layer (or a later entry) from writing into it.
    dir_modes: Vec<(PathBuf, u32)>,
}

impl Unpacker {
    /// Prepares to unpack into `root`, an existing empty directory.
    pub(crate) fn new(root: &Path) -> io::Result<Self> {
        let preserve_owner = fs::metadata(root)?.uid() == 0;
        Ok(Self { root: root.to_owned(), preserve_owner, dir_modes: Vec::new() })
    }

    /// Applies one layer blob (already verified against its descriptor digest).
    pub(crate) fn apply_layer<R: Read>(
        &mut self,
        blob: R,
        compression: Compression,
        diff_id: &Digest,
    ) -> Result<(), UnpackError> {
        let decompressed: Box<dyn Read + '_> = match compression {
            Compression::None => Box::new(blob),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
            Compression::Zstd => zstd_decoder(blob)?,
        };
        let mut archive = tar::Archive::new(HashingReader::new(decompressed));
        let mut layer = LayerState::default();
        let entries = archive.entries().map_err(|e| invalid(format!("reading layer: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| invalid(format!("reading layer: {e}")))?;
            self.apply_entry(entry, &mut layer)?;
        }
        // Hash the tail (end-of-archive blocks, padding) too: diff_id covers the whole stream.
        let mut hashing = archive.into_inner();
        io::copy(&mut hashing, &mut io::sink()).map_err(|e| invalid(format!("reading layer: {e}")))?;
        let (actual, _) = hashing.finish();
        if &actual != diff_id {
            return Err(invalid(format!("layer content digest {actual} does not match diff_id {diff_id}")));
        }
        Ok(())
    }

    /// Applies the deferred directory modes, deepest first.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.dir_modes.sort_by_key(|(path, _)| std::cmp::Reverse(path.components().count()));
        for (path, mode) in &self.dir_modes {
            // A later layer may have removed or replaced the directory.
            match fs::symlink_metadata(path) {
                Ok(m) if m.is_dir() => fs::set_permissions(path, fs::Permissions::from_mode(*mode))?,
                _ => {}
            }
        }
        Ok(())
    }

    fn apply_entry<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
        layer: &mut LayerState,
    ) -> Result<(), UnpackError> {
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            return Ok(());
        }
        let raw_path = entry.path().map_err(|e| invalid(format!("bad entry path: {e}")))?.into_owned();
        let mut components = normalize(&raw_path)?;
        let Some(name) = components.pop() else {
            return Ok(()); // "./": the root itself, whose mode we own.
        };
        let name_str = name.to_string_lossy();
        if name_str == OPAQUE_WHITEOUT {
            if let Some(dir) = self.existing_dir(&components)? {
                remove_lower(&dir, &layer.written)?;
            }
            return Ok(());
        }
        if let Some(hidden) = name_str.strip_prefix(WHITEOUT_PREFIX) {
            // `.wh..wh.*` other than the opaque marker are aufs internals; never materialise them.
            if hidden.starts_with(WHITEOUT_PREFIX) {
                return Ok(());
            }
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(invalid(format!("invalid whiteout {}", raw_path.display())));
            }
            if let Some(parent) = self.existing_dir(&components)? {
                remove_any(&parent.join(hidden))?;
            }
            return Ok(());
        }

        let header = entry.header();
        let mode = header.mode().map_err(|e| invalid(format!("bad mode: {e}")))? & 0o7777;
        let owner = match (header.uid(), header.gid()) {
            (Ok(u), Ok(g)) => (
                u32::try_from(u).map_err(|_| invalid("uid out of range"))?,
                u32::try_from(g).map_err(|_| invalid("gid out of range"))?,
            ),
            _ => return Err(invalid(format!("bad owner on {}", raw_path.display()))),
        };
        let mtime = header.mtime().unwrap_or(0);
        let link_name = entry.link_name().map_err(|e| invalid(format!("bad link name: {e}")))?;
        let link_name = link_name.map(|l| l.into_owned());

        if matches!(kind, EntryType::Char | EntryType::Block | EntryType::Fifo) {
            tracing::debug!(path = %raw_path.display(), "skipping device node or fifo in layer");
            return Ok(());
        }
        let parent = match self.resolve(&components, true) {
            Ok(p) => p,
            Err(UnpackError::Io(e)) if e.kind() == io::ErrorKind::NotADirectory => {
                return Err(invalid(format!("{}: parent is not a directory", raw_path.display())));
            }
            Err(e) => return Err(e),
        };
        let target = parent.join(&name);
        match kind {
            EntryType::Directory => {
                match fs::symlink_metadata(&target) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        remove_any(&target)?;
                        create_dir(&target)?;
                    }
                    Err(_) => create_dir(&target)?,
                }
                self.chown(&target, owner)?;
                self.dir_modes.push((target.clone(), mode));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                remove_any(&target)?;
                let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&target)?;
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n =
                        entry.read(&mut buf).map_err(|e| invalid(format!("reading {}: {e}", raw_path.display())))?;
                    if n == 0 {
                        break;
                    }
                    file.write_all(&buf[..n])?;
                }
                file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))?;
                drop(file);
                // chown clears set-id bits, so the mode comes after it.
                self.chown(&target, owner)?;
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
            }
            EntryType::Symlink => {
                let link = link_name.ok_or_else(|| invalid("symlink without target"))?;
                if link.as_os_str().is_empty() {
                    return Err(invalid(format!("{}: empty symlink target", raw_path.display())));
                }
                remove_any(&target)?;
                // The target is stored verbatim: it is only ever followed through `resolve`
                // here, and inside the container's mount namespace by the runtime.
                std::os::unix::fs::symlink(&link, &target)?;
                self.chown(&target, owner)?;
            }
            EntryType::Link => {
                let link = link_name.ok_or_else(|| invalid("hard link without target"))?;
                let mut source = normalize(&link)?;
                let source_name = source.pop().ok_or_else(|| invalid("hard link to the root directory"))?;
                let source = self.existing_dir(&source)?.map(|dir| dir.join(source_name));
                match source.as_deref().map(fs::symlink_metadata) {
                    Some(Ok(m)) if !m.is_dir() => {}
                    _ => {
                        return Err(invalid(format!(
                            "{}: hard link target {} is missing or a directory",
                            raw_path.display(),
                            link.display()
                        )));
                    }
                }
                let source = source.expect("checked above");
                if source != target {
                    remove_any(&target)?;
                    fs::hard_link(&source, &target)?;
                }
            }
            other => {
                tracing::debug!(path = %raw_path.display(), kind = ?other, "skipping unsupported tar entry");
                return Ok(());
            }
        }
        layer.written.insert(target);
        Ok(())
    }

    /// Resolves `components` (already free of `..`) to a real directory under the root,
    /// following symlinks as if the root were `/`. With `create`, missing directories are made.
    fn resolve(&self, components: &[OsString], create: bool) -> Result<PathBuf, UnpackError> {
        let mut resolved: Vec<OsString> = Vec::new();
        let mut pending: Vec<OsString> = components.iter().rev().cloned().collect();
        let mut links = 0;
        while let Some(c) = pending.pop() {
            if c == "." {
                continue;
            }
            if c == ".." {
                resolved.pop();
                continue;
            }
            let path = join(&self.root, &resolved).join(&c);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(invalid(format!("too many levels of symlinks at {c:?}")));
                    }
                    let target = fs::read_link(&path)?;
                    if target.is_absolute() {
                        resolved.clear();
                    }
                    for part in target.components().rev() {
                        match part {
                            Component::Normal(p) => pending.push(p.to_owned()),
                            Component::ParentDir => pending.push("..".into()),
                            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
                        }
                    }
                }
                Ok(m) if m.is_dir() => resolved.push(c),
                Ok(_) => return Err(io::Error::from(io::ErrorKind::NotADirectory).into()),
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    // A whiteout name is a marker, never a directory to write into.
                    if c.to_string_lossy().starts_with(WHITEOUT_PREFIX) {
                        return Err(invalid(format!("whiteout {c:?} used as a directory")));
                    }
                    create_dir(&path)?;
                    resolved.push(c);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(join(&self.root, &resolved))
    }

    /// The directory `components` resolves to, or `None` when it does not exist (a whiteout
    /// or hard link naming a missing path) or is not a directory.
    fn existing_dir(&self, components: &[OsString]) -> Result<Option<PathBuf>, UnpackError> {
        match self.resolve(components, false) {
            Ok(dir) => Ok(Some(dir)),
            Err(UnpackError::Io(e)) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn chown(&self, path: &Path, (uid, gid): (u32, u32)) -> io::Result<()> {
        if self.preserve_owner {
            std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct LayerState {
    /// Paths this layer created, which its own opaque whiteouts must keep.
    written: HashSet<PathBuf>,
}

fn join(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut p = root.to_owned();
    p.extend(parts);
    p
}

/// Splits a tar path into normal components; a leading `/` or `./` is dropped (tar writers use
/// both), `..` anywhere is refused.
fn normalize(path: &Path) -> Result<Vec<OsString>, UnpackError> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n.to_owned()),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(invalid(format!("layer entry {} escapes the root filesystem", path.display())));
            }
        }
    }
    Ok(out)
}

fn create_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o755).create(path)
}

/// Removes whatever is at `path` (without following a symlink there); absent is fine.
fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opaque whiteout: removes everything under `dir` that the current layer did not write.
fn remove_lower(dir: &Path, written: &HashSet<PathBuf>) -> io::Result<()> {
    for child in fs::read_dir(dir)? {
        let path = child?.path();
        if !written.contains(&path) {
            remove_any(&path)?;
        } else if fs::symlink_metadata(&path)?.is_dir() {
            remove_lower(&path, written)?;
        }
    }
    Ok(())
}

#[cfg(feature = "zstd")]
fn zstd_decoder<'a, R: Read + 'a>(blob: R) -> Result<Box<dyn Read + 'a>, UnpackError> {
    let decoder = ruzstd::decoding::StreamingDecoder::new(blob).map_err(|e| invalid(format!("bad zstd layer: {e}")))?;
    Ok(Box::new(decoder))
}

#[cfg(not(feature = "zstd"))]
fn zstd_decoder<'a, R: Read + 'a>(_blob: R) -> Result<Box<dyn Read + 'a>, UnpackError> {
    Err(invalid("zstd-compressed layers are not supported (canopy-oci built without the zstd feature)"))
}

#[cfg(test)]
mod tests;
