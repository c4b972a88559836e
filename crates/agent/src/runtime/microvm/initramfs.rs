//! The pod VMs' initramfs, built once when the agent starts: `/init` is `canopy-guest` (a static
//! executable, checked here), plus the kernel modules the guest needs with what they depend on
//! (from the kernel's `modules.dep`), listed in load order in `canopy_guest::protocol::MODULE_LIST`.
//!
//! The archive is the kernel's "newc" cpio format, which is small enough to write directly.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use canopy_guest::protocol::MODULE_LIST;

/// What the guest loads: the virtio-mmio transport (microvm has no PCI), the disk, the NIC and
/// the serial port to the host.
pub const MODULES: &[&str] = &["virtio_mmio", "virtio_blk", "virtio_net", "virtio_console"];

/// The kernel release of a `vmlinuz-<release>` file.
pub fn kernel_release(kernel: &Path) -> Option<String> {
    let name = kernel.file_name()?.to_str()?;
    name.strip_prefix("vmlinuz-").map(str::to_string)
}

/// Whether an ELF executable asks for a dynamic loader (a `PT_INTERP` program header): such a
/// binary cannot be the init of an initramfs without its libraries.
pub fn is_dynamic_elf(bytes: &[u8]) -> Result<bool, String> {
    let u16_at = |o: usize| bytes.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| bytes.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |o: usize| bytes.get(o..o + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    // A 64-bit little-endian ELF file: the only kind a x86_64 guest runs.
    if bytes.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return Err("not a 64-bit little-endian ELF executable".into());
    }
    let truncated = || "a truncated ELF header".to_string();
    let phoff = usize::try_from(u64_at(0x20).ok_or_else(truncated)?).map_err(|_| truncated())?;
    let phentsize = usize::from(u16_at(0x36).ok_or_else(truncated)?);
    let phnum = usize::from(u16_at(0x38).ok_or_else(truncated)?);
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let p_type = u32_at(phoff + i * phentsize).ok_or_else(truncated)?;
        if p_type == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The modules to load for `wanted`, each after its dependencies, from `modules.dep` lines
/// (`kernel/path/a.ko: kernel/path/b.ko kernel/path/c.ko`, dependencies listed nearest first).
pub fn resolve_modules(modules_dep: &str, wanted: &[&str]) -> Result<Vec<String>, String> {
    let mut deps = std::collections::HashMap::new();
    for line in modules_dep.lines() {
        let Some((module, rest)) = line.split_once(':') else { continue };
        deps.insert(module.trim().to_string(), rest.split_whitespace().map(str::to_string).collect::<Vec<_>>());
    }
    let name_of = |path: &str| {
        let file = path.rsplit('/').next().unwrap_or(path);
        file.split_once(".ko").map_or(file, |(n, _)| n).replace('-', "_")
    };
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    for want in wanted {
        let path = deps
            .keys()
            .find(|p| name_of(p) == *want)
            .ok_or_else(|| format!("the kernel has no module {want} (is it built in? then drop it from the list)"))?
            .clone();
        // modules.dep lists the full closure; the farthest dependency comes last.
        for dep in deps[&path].iter().rev().chain(std::iter::once(&path)) {
            if seen.insert(dep.clone()) {
                order.push(dep.clone());
            }
        }
    }
    Ok(order)
}

/// A "newc" cpio archive being written.
struct Cpio<W: Write> {
    out: W,
    inode: u32,
    written: usize,
}

impl<W: Write> Cpio<W> {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) -> std::io::Result<()> {
        self.inode += 1;
        let name_len = name.len() + 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.inode,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name_len,
            0
        );
        self.write(header.as_bytes())?;
        self.write(name.as_bytes())?;
        self.write(&[0])?;
        self.pad()?;
        self.write(data)?;
        self.pad()
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.written += bytes.len();
        self.out.write_all(bytes)
    }

    fn pad(&mut self) -> std::io::Result<()> {
        let pad = (4 - self.written % 4) % 4;
        self.write(&[0u8; 3][..pad])
    }

    fn dir(&mut self, name: &str) -> std::io::Result<()> {
        self.entry(name, 0o040_755, &[])
    }

    fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> std::io::Result<()> {
        self.entry(name, 0o100_000 | mode, data)
    }

    fn finish(mut self) -> std::io::Result<W> {
        self.inode = 0;
        self.entry("TRAILER!!!", 0, &[])?;
        Ok(self.out)
    }
}

/// Parent directories of `path` (relative), outermost first.
fn parents(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('/').collect();
    (1..parts.len()).map(|n| parts[..n].join("/")).collect()
}

/// Builds the initramfs at `out` for the kernel `release`, taking its modules from
/// `modules_root` (normally `/lib/modules`).
pub fn build(guest: &Path, modules_root: &Path, release: &str, out: &Path) -> Result<(), String> {
    let init = std::fs::read(guest).map_err(|e| format!("reading the guest agent {}: {e}", guest.display()))?;
    match is_dynamic_elf(&init) {
        Ok(false) => {}
        Ok(true) => {
            return Err(format!(
                "{} is dynamically linked; the pod VM's init must be static (build it with scripts/build-guest)",
                guest.display()
            ));
        }
        Err(e) => return Err(format!("{}: {e}", guest.display())),
    }
    let module_dir = modules_root.join(release);
    let dep_file = module_dir.join("modules.dep");
    let dep = std::fs::read_to_string(&dep_file)
        .map_err(|e| format!("reading {} (is the kernel's package installed?): {e}", dep_file.display()))?;
    let modules = resolve_modules(&dep, MODULES)?;

    let tmp = out.with_extension("tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    let mut cpio = Cpio { out: std::io::BufWriter::new(file), inode: 0, written: 0 };
    let io = |e: std::io::Error| format!("writing {}: {e}", tmp.display());
    let mut dirs = BTreeSet::new();
    let mut list = String::new();
    for dir in ["dev", "proc", "sys", "run", "tmp"] {
        dirs.insert(dir.to_string());
    }
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for module in &modules {
        let inside = format!("lib/modules/{release}/{module}");
        dirs.extend(parents(&inside));
        list.push_str(&format!("/{inside}\n"));
        files.push((inside, module_dir.join(module)));
    }
    dirs.extend(parents(MODULE_LIST.trim_start_matches('/')));
    for dir in &dirs {
        cpio.dir(dir).map_err(io)?;
    }
    cpio.file("init", 0o755, &init).map_err(io)?;
    for (inside, path) in files {
        let data = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        cpio.file(&inside, 0o644, &data).map_err(io)?;
    }
    cpio.file(MODULE_LIST.trim_start_matches('/'), 0o644, list.as_bytes()).map_err(io)?;
    let mut writer = cpio.finish().map_err(io)?;
    writer.flush().map_err(io)?;
    drop(writer);
    std::fs::rename(&tmp, out).map_err(|e| format!("renaming {}: {e}", tmp.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_come_after_their_dependencies_once() {
        let dep = "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko\n\
                   kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n\
                   kernel/net/core/failover.ko:\n\
                   kernel/drivers/block/virtio_blk.ko:\n";
        let order = resolve_modules(dep, &["virtio_net", "virtio_blk"]).expect("resolved");
        assert_eq!(
            order,
            [
                "kernel/net/core/failover.ko",
                "kernel/drivers/net/net_failover.ko",
                "kernel/drivers/net/virtio_net.ko",
                "kernel/drivers/block/virtio_blk.ko"
            ]
        );
        assert!(resolve_modules(dep, &["virtio_gpu"]).is_err());
    }

    #[test]
    fn static_and_dynamic_executables_are_told_apart() {
        let me = std::fs::read(std::env::current_exe().expect("exe")).expect("read");
        // Test binaries are linked the default way: dynamically.
        assert_eq!(is_dynamic_elf(&me), Ok(true));
        assert!(is_dynamic_elf(b"#!/bin/sh\n").is_err());
        assert!(is_dynamic_elf(&me[..40]).is_err());
    }

    #[test]
    fn the_archive_is_newc_and_four_byte_aligned() {
        let mut cpio = Cpio { out: Vec::new(), inode: 0, written: 0 };
        cpio.dir("lib").expect("dir");
        cpio.file("lib/a", 0o644, b"hello").expect("file");
        let out = cpio.finish().expect("finish");
        assert_eq!(out.len() % 4, 0);
        assert!(out.starts_with(b"070701"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("lib/a\0"));
        assert!(text.contains("hello"));
        assert!(text.contains("TRAILER!!!"));
        assert_eq!(parents("a/b/c.ko"), ["a", "a/b"]);
    }
}
