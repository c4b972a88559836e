//! Disks of pod VMs. Each image digest becomes one read-only ext4 image, made from the unpacked
//! root filesystem with `mkfs.ext4 -d` (no mount, no loop device), cached under
//! `disks/<digest>.ext4`; each container of a pod gets a qcow2 overlay backed by it, its
//! writable layer, removed with the pod.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::runtime::{RuntimeError, RuntimeResult};

/// Room left free in every image for what containers write (the overlay grows into it; sparse,
/// so it costs nothing until written).
const WRITABLE_ROOM: u64 = 1 << 30;

pub struct Disks {
    dir: PathBuf,
    /// One build of an image at a time.
    building: tokio::sync::Mutex<()>,
}

/// Bytes used by the files under `dir` (not following links), rounded up to 4 KiB blocks.
fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            total += meta.len().div_ceil(4096) * 4096 + 4096;
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    total
}

async fn run(command: &mut Command) -> Result<(), String> {
    let out =
        command.stdin(std::process::Stdio::null()).output().await.map_err(|e| format!("running {command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{command:?}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Disks {
    pub fn new(dir: PathBuf) -> RuntimeResult<Self> {
        std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::Other(format!("creating {}: {e}", dir.display())))?;
        Ok(Self { dir, building: tokio::sync::Mutex::new(()) })
    }

    /// The ext4 image of an unpacked image (`digest` like `sha256:...`), built when missing;
    /// says whether it was built now.
    pub async fn image(&self, digest: &str, rootfs: &Path) -> RuntimeResult<(PathBuf, bool)> {
        let name = digest.replace(':', "-");
        if name.is_empty() || name.contains('/') {
            return Err(RuntimeError::Start(format!("invalid image digest {digest:?}")));
        }
        let path = self.dir.join(format!("{name}.ext4"));
        let _building = self.building.lock().await;
        if path.exists() {
            return Ok((path, false));
        }
        let size = tree_size(rootfs) * 5 / 4 + WRITABLE_ROOM + (16 << 20);
        let tmp = path.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        let built = run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-E", "root_owner=0:0", "-L", "canopy-image", "-d"])
            .arg(rootfs)
            .arg(&tmp)
            .arg(format!("{}k", size / 1024)))
        .await;
        if let Err(e) = built {
            let _ = std::fs::remove_file(&tmp);
            return Err(RuntimeError::Start(format!("making the disk image of {digest}: {e}")));
        }
        std::fs::rename(&tmp, &path).map_err(|e| RuntimeError::Start(format!("storing {}: {e}", path.display())))?;
        Ok((path, true))
    }

    /// A fresh copy-on-write layer over `base` at `overlay`.
    pub async fn overlay(base: &Path, overlay: &Path) -> RuntimeResult<()> {
        let _ = std::fs::remove_file(overlay);
        run(Command::new("qemu-img").args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"]).arg(base).arg(overlay))
            .await
            .map_err(|e| RuntimeError::Start(format!("creating the writable layer: {e}")))
    }
}
