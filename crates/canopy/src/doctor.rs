//! `canopy doctor`: what this machine can run. Each check prints what it found and, when
//! something is missing, what to install; the exit status says whether a host agent could run
//! real workloads here.

use std::path::Path;
use std::process::Command;

struct Check {
    what: &'static str,
    ok: bool,
    detail: String,
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
        return Check { what: "KVM", ok: false, detail: "no /dev/kvm: VMs would run under TCG (slow)".into() };
    }
    let open = std::fs::OpenOptions::new().read(true).write(true).open(dev);
    let pvm = Path::new("/sys/module/kvm_pvm").exists();
    match open {
        Err(e) => Check { what: "KVM", ok: false, detail: format!("/dev/kvm cannot be opened ({e}): TCG fallback") },
        Ok(_) if pvm => Check {
            what: "KVM",
            ok: false,
            detail: "/dev/kvm is PVM (kvm_pvm): stock guest kernels hang on it; VMs fall back to TCG".into(),
        },
        Ok(_) => Check { what: "KVM", ok: true, detail: "/dev/kvm opens read-write".into() },
    }
}

fn binary(what: &'static str, bin: &str, arg: &str, package: &str) -> Check {
    match version_of(bin, arg) {
        Some(v) => Check { what, ok: true, detail: v },
        None => Check { what, ok: false, detail: format!("{bin} not found: apt-get install {package}") },
    }
}

fn guest_kernel() -> Check {
    let found = std::fs::read_dir("/boot")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("vmlinuz-") && n.ends_with("-cloud-amd64"));
    match found {
        Some(k) => Check { what: "guest kernel", ok: true, detail: format!("/boot/{k}") },
        None => Check {
            what: "guest kernel",
            ok: false,
            detail: "no /boot/vmlinuz-*-cloud-amd64: apt-get install linux-image-cloud-amd64".into(),
        },
    }
}

pub fn doctor() -> anyhow::Result<()> {
    let checks = [
        kvm(),
        binary("QEMU", "qemu-system-x86_64", "--version", "qemu-system-x86"),
        guest_kernel(),
        binary("runc", "runc", "--version", "runc"),
        binary("iproute2", "ip", "-V", "iproute2"),
    ];
    for c in &checks {
        println!("{:<13} {:<7} {}", c.what, if c.ok { "ok" } else { "missing" }, c.detail);
    }
    let runtimes = [
        ("sim", true),
        ("container", checks[3].ok && checks[4].ok),
        ("microvm", checks[1].ok && checks[2].ok && checks[4].ok),
    ];
    println!();
    for (name, possible) in runtimes {
        println!("runtime {name:<10} {}", if possible { "can run here" } else { "cannot run here (see above)" });
    }
    println!("(this build's agent runs the container and sim runtimes; microvm is being built)");
    Ok(())
}
