//! `canopy doctor`: what this machine can run. Each check prints what it found and, when
//! something is missing, what to install. `canopy up` asks [`container_blockers`] the same
//! questions before it starts its local host.

use std::path::Path;
use std::process::Command;

struct Check {
    what: &'static str,
    ok: bool,
    detail: String,
    /// The Debian package that supplies what is missing.
    package: Option<&'static str>,
}

impl Check {
    fn ok(what: &'static str, detail: impl Into<String>) -> Self {
        Self { what, ok: true, detail: detail.into(), package: None }
    }

    /// Something missing; `package` when installing a Debian package supplies it.
    fn missing(what: &'static str, detail: impl Into<String>, package: Option<&'static str>) -> Self {
        Self { what, ok: false, detail: detail.into(), package }
    }
}

fn version_of(bin: &str, arg: &str) -> Option<String> {
    let out = Command::new(bin).arg(arg).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim().to_string();
    out.status.success().then_some(line)
}

/// KVM as the microvm runtime will use it: the device must open read-write. A PVM host
/// (`kvm_pvm` loaded) opens fine but cannot boot stock guest kernels, so the runtime decides
/// by booting a probe guest when the agent starts; here it is only reported.
fn kvm() -> Check {
    let dev = Path::new("/dev/kvm");
    if !dev.exists() {
        return Check::missing("KVM", "no /dev/kvm: VMs would run under TCG (slow)", None);
    }
    let open = std::fs::OpenOptions::new().read(true).write(true).open(dev);
    let pvm = Path::new("/sys/module/kvm_pvm").exists();
    match open {
        Err(e) => Check::missing("KVM", format!("/dev/kvm cannot be opened ({e}): TCG fallback"), None),
        Ok(_) if pvm => Check::missing(
            "KVM",
            "/dev/kvm is PVM (kvm_pvm): stock guest kernels hang on it; VMs fall back to TCG",
            None,
        ),
        Ok(_) => Check::ok("KVM", "/dev/kvm opens read-write"),
    }
}

fn binary(what: &'static str, bin: &str, arg: &str, package: &'static str) -> Check {
    match version_of(bin, arg) {
        Some(v) => Check::ok(what, v),
        None => Check::missing(what, format!("{bin} not found: apt-get install {package}"), Some(package)),
    }
}

fn runc() -> Check {
    binary("runc", "runc", "--version", "runc")
}

fn iproute2() -> Check {
    binary("iproute2", "ip", "-V", "iproute2")
}

/// The effective user id in `/proc/self/status` (`Uid: real effective saved fs`).
fn effective_uid(status: &str) -> Option<u32> {
    status.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Root, which the container and microvm runtimes need (network namespaces, mounts, cgroups).
fn root() -> Check {
    let uid = std::fs::read_to_string("/proc/self/status").ok().as_deref().and_then(effective_uid);
    match uid {
        Some(0) => Check::ok("root", "running as root"),
        Some(uid) => Check::missing(
            "root",
            format!("running as uid {uid}: hosts need root (network namespaces, mounts, cgroups)"),
            None,
        ),
        None => Check::missing("root", "cannot read /proc/self/status", None),
    }
}

/// What keeps the container runtime from running here, empty when nothing does.
pub struct Blockers {
    /// One line per missing thing, as `canopy doctor` prints it.
    pub problems: Vec<String>,
    /// The Debian packages to install (`apt-get install ...`).
    pub packages: Vec<&'static str>,
    /// Whether this process lacks root.
    pub needs_root: bool,
}

impl Blockers {
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Whether a container host can run here: runc and iproute2 installed, and root.
pub fn container_blockers() -> Blockers {
    let root = root();
    let needs_root = !root.ok;
    let missing: Vec<Check> = [runc(), iproute2(), root].into_iter().filter(|c| !c.ok).collect();
    Blockers {
        needs_root,
        problems: missing.iter().map(|c| format!("{}: {}", c.what, c.detail)).collect(),
        packages: missing.iter().filter_map(|c| c.package).collect(),
    }
}

fn guest_kernel() -> Check {
    match canopy_agent::runtime::microvm::default_kernel() {
        Some(k) => Check::ok("guest kernel", k.display().to_string()),
        None => Check::missing(
            "guest kernel",
            "no /boot/vmlinuz-*-cloud-amd64: apt-get install linux-image-cloud-amd64",
            Some("linux-image-cloud-amd64"),
        ),
    }
}

pub fn doctor() -> anyhow::Result<()> {
    let checks = [
        kvm(),
        binary("QEMU", "qemu-system-x86_64", "--version", "qemu-system-x86"),
        guest_kernel(),
        runc(),
        iproute2(),
        root(),
    ];
    for c in &checks {
        println!("{:<13} {:<7} {}", c.what, if c.ok { "ok" } else { "missing" }, c.detail);
    }
    let runtimes = [
        ("sim", true),
        ("container", checks[3].ok && checks[4].ok && checks[5].ok),
        ("microvm", checks[1].ok && checks[2].ok && checks[4].ok && checks[5].ok),
    ];
    println!();
    for (name, possible) in runtimes {
        println!("runtime {name:<10} {}", if possible { "can run here" } else { "cannot run here (see above)" });
    }
    println!("(this build's agent runs the container and sim runtimes; microvm is being built)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_uid_is_the_second_field() {
        let status = "Name:\tcanopy\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Uid:\t1000\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(effective_uid("Name:\tx\n"), None);
    }
}
