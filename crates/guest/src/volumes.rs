//! The pod's volumes in the guest, at `/run/canopy/volumes/<name>` (guest memory), bind-mounted
//! into containers. Files volumes are rewritten in place, file by file through a rename, so a
//! container that has the directory mounted sees the new contents.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use canopy_guest::protocol::{Volume, VolumeFile, valid_relative_path};

use crate::containers::Failure;
use crate::init::RUN;

fn root() -> PathBuf {
    Path::new(RUN).join("volumes")
}

fn checked(name: &str) -> Result<PathBuf, Failure> {
    if !valid_relative_path(name) || name.contains('/') {
        return Err(Failure::bad(format!("invalid volume name {name:?}")));
    }
    Ok(root().join(name))
}

/// Where an existing volume lives.
pub fn path(name: &str) -> Result<PathBuf, Failure> {
    let path = checked(name)?;
    if path.is_dir() { Ok(path) } else { Err(Failure::bad(format!("volume {name} has not been provided"))) }
}

pub fn put(name: &str, volume: Volume) -> Result<(), Failure> {
    let dir = checked(name)?;
    let io = |what: String| move |e: std::io::Error| Failure::internal(format!("{what}: {e}"));
    std::fs::create_dir_all(&dir).map_err(io(format!("creating volume {name}")))?;
    let Volume::Files(files) = volume else { return Ok(()) };
    let mut decoded = Vec::with_capacity(files.len());
    for VolumeFile { path, data, mode } in files {
        if !valid_relative_path(&path) {
            return Err(Failure::bad(format!("invalid file path {path:?} in volume {name}")));
        }
        let data = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| Failure::bad(format!("file {path} of volume {name} is not base64: {e}")))?;
        decoded.push((path, data, mode));
    }
    let mut keep = BTreeSet::new();
    for (path, data, mode) in decoded {
        let target = dir.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(format!("creating {path} in volume {name}")))?;
        }
        let tmp = target.with_file_name(format!(".{}.tmp", target.file_name().and_then(|n| n.to_str()).unwrap_or("f")));
        std::fs::write(&tmp, &data)
            .and_then(|()| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode & 0o777)))
            .and_then(|()| std::fs::rename(&tmp, &target))
            .map_err(io(format!("writing {path} in volume {name}")))?;
        keep.insert(target);
    }
    remove_others(&dir, &keep);
    Ok(())
}

/// Removes the files under `dir` that the new contents no longer have (and emptied dirs).
fn remove_others(dir: &Path, keep: &BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            remove_others(&path, keep);
            let _ = std::fs::remove_dir(&path);
        } else if !keep.contains(&path) {
            let _ = std::fs::remove_file(&path);
        }
    }
}
