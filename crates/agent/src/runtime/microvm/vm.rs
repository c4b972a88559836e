//! QEMU: the command line of a pod VM (`-M microvm`, direct kernel boot, virtio-mmio devices),
//! and the accelerator probe.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use canopy_guest::protocol::{INIT_MARKER, PORT_NAME, PROBE_MARKER, PROBE_OK};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

pub const QEMU: &str = "qemu-system-x86_64";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }

    fn args(self) -> [&'static str; 4] {
        match self {
            Accel::Kvm => ["-accel", "kvm", "-cpu", "host"],
            // The translation cache defaults to 1 GiB per VM; 32 MiB keeps the host overhead
            // of a pod VM small at some cost in re-translation.
            Accel::Tcg => ["-accel", "tcg,tb-size=32", "-cpu", "max"],
        }
    }
}

/// One pod VM.
pub struct VmSpec<'a> {
    pub kernel: &'a Path,
    pub initramfs: &'a Path,
    pub accel: Accel,
    pub memory_mib: u64,
    pub vcpus: u32,
    /// The unix socket QEMU serves for the guest channel.
    pub socket: &'a Path,
    /// Where the guest console goes.
    pub console: &'a Path,
    /// `(serial, qcow2 file)` per container.
    pub disks: &'a [(String, PathBuf)],
    /// The tap device on the pods' bridge and the NIC's MAC address.
    pub nic: Option<(&'a str, String)>,
}

const KERNEL_ARGS: &str = "console=ttyS0 quiet panic=-1 reboot=t rdinit=/init";

/// Kernel arguments that spare an emulated guest its timer calibration. Under TCG the guest
/// measures its TSC against the emulated PIT in wall-clock time, which fails when the host is
/// busy (the guest then hangs at boot); the TSC runs at the host's rate, so the host says it.
fn tcg_timing(cpuinfo: &str) -> Option<String> {
    let mhz: f64 = cpuinfo.lines().find(|l| l.starts_with("cpu MHz"))?.split(':').nth(1)?.trim().parse().ok()?;
    let khz = (mhz * 1000.0) as u64;
    // Loops per jiffy at the Debian kernel's HZ=250.
    Some(format!("tsc_early_khz={khz} lpj={}", khz * 4))
}

fn base_args(kernel: &Path, initramfs: &Path, accel: Accel, append: &str) -> Vec<String> {
    let mut args: Vec<String> = vec!["-M".into(), "microvm".into()];
    args.extend(accel.args().map(String::from));
    args.extend(["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"].map(String::from));
    args.extend(["-kernel".into(), kernel.display().to_string(), "-initrd".into(), initramfs.display().to_string()]);
    let timing = match accel {
        Accel::Tcg => std::fs::read_to_string("/proc/cpuinfo").ok().as_deref().and_then(tcg_timing),
        Accel::Kvm => None,
    };
    args.extend(["-append".into(), format!("{KERNEL_ARGS} {} {append}", timing.unwrap_or_default())]);
    args
}

pub fn args(spec: &VmSpec<'_>) -> Vec<String> {
    let mut args = base_args(spec.kernel, spec.initramfs, spec.accel, INIT_MARKER);
    args.extend(["-m".into(), format!("{}M", spec.memory_mib), "-smp".into(), spec.vcpus.to_string()]);
    args.extend(["-serial".into(), format!("file:{}", spec.console.display())]);
    args.extend([
        "-device".into(),
        "virtio-serial-device".into(),
        "-chardev".into(),
        format!("socket,id=guest,path={},server=on,wait=off", spec.socket.display()),
        "-device".into(),
        format!("virtserialport,chardev=guest,name={PORT_NAME}"),
    ]);
    for (serial, file) in spec.disks {
        args.extend([
            "-drive".into(),
            format!("id={serial},file={},format=qcow2,if=none,cache=writeback,discard=unmap", file.display()),
            "-device".into(),
            format!("virtio-blk-device,drive={serial},serial={serial}"),
        ]);
    }
    if let Some((tap, mac)) = &spec.nic {
        args.extend([
            "-netdev".into(),
            format!("tap,id=net0,ifname={tap},script=no,downscript=no"),
            "-device".into(),
            format!("virtio-net-device,netdev=net0,mac={mac}"),
        ]);
    }
    args
}

/// A locally administered MAC address derived from the pod's address.
pub fn mac_for(ip: std::net::Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("52:54:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// Whether a VM can boot with `accel`: boots the guest asking it only to report, within
/// `timeout`. On hosts where KVM exists but cannot run a stock kernel (nested PVM), the guest
/// hangs and the probe times out.
pub async fn probe(kernel: &Path, initramfs: &Path, accel: Accel, timeout: Duration) -> Result<(), String> {
    let mut command = Command::new(QEMU);
    command
        .args(base_args(kernel, initramfs, accel, PROBE_MARKER))
        .args(["-m", "128M", "-serial", "stdio"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| format!("starting {QEMU}: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let mut seen = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stdout.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(PROBE_OK.len()).any(|w| w == PROBE_OK.as_bytes()) {
                        return true;
                    }
                }
            }
        }
    };
    let booted = tokio::time::timeout(timeout, read).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    match booted {
        Ok(true) => Ok(()),
        Ok(false) => {
            let mut err = String::new();
            let _ = stderr.read_to_string(&mut err).await;
            Err(format!("{QEMU} ended before the guest booted: {}", err.trim()))
        }
        Err(_) => Err(format!("the guest did not boot within {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcg_guests_are_told_the_tsc_rate() {
        let cpuinfo = "processor\t: 0\nmodel name\t: x\ncpu MHz\t\t: 2445.406\ncache size\t: 1 KB\n";
        assert_eq!(tcg_timing(cpuinfo).as_deref(), Some("tsc_early_khz=2445406 lpj=9781624"));
        assert_eq!(tcg_timing("nothing"), None);
    }

    #[test]
    fn the_command_line_has_the_channel_disks_and_nic() {
        let disks = [("c0".to_string(), PathBuf::from("/p/c0.qcow2"))];
        let spec = VmSpec {
            kernel: Path::new("/boot/vmlinuz-6.1.0-56-cloud-amd64"),
            initramfs: Path::new("/d/initramfs.cpio"),
            accel: Accel::Kvm,
            memory_mib: 352,
            vcpus: 2,
            socket: Path::new("/p/guest.sock"),
            console: Path::new("/p/console.log"),
            disks: &disks,
            nic: Some(("tpabc", mac_for("10.88.0.7".parse().expect("ip")))),
        };
        let line = args(&spec).join(" ");
        for part in [
            "-M microvm -accel kvm",
            "-m 352M -smp 2",
            "socket,id=guest,path=/p/guest.sock,server=on,wait=off",
            "virtserialport,chardev=guest,name=io.canopy.guest.0",
            "virtio-blk-device,drive=c0,serial=c0",
            "tap,id=net0,ifname=tpabc,script=no,downscript=no",
            "virtio-net-device,netdev=net0,mac=52:54:0a:58:00:07",
            "canopy.guest=1",
        ] {
            assert!(line.contains(part), "{part} missing from {line}");
        }
    }
}
