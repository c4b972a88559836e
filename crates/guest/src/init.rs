//! Bringing the VM up as PID 1: kernel filesystems, modules, then the server on the port.

use std::path::Path;
use std::time::Duration;

use canopy_guest::protocol::{MODULE_LIST, PORT_NAME, PROBE_MARKER, PROBE_OK};
use rustix::mount::{MountFlags, mount};

/// The guest's uptime when init began, in milliseconds (the kernel's boot time).
pub static KERNEL_BOOT_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Where the guest keeps containers, disks, volumes and pod files (a tmpfs).
pub const RUN: &str = "/run/canopy";

pub fn run() -> i32 {
    if let Err(e) = mount_kernel_filesystems() {
        // Without /proc and /dev nothing else can work; say why on the console and stop
        // (PID 1 exiting ends the VM, which the host reports).
        eprintln!("canopy-guest: {e}");
        return 1;
    }
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    let seconds: f64 = uptime.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let _ = KERNEL_BOOT_MS.set((seconds * 1000.0) as u64);
    if std::fs::read_to_string("/proc/cmdline").is_ok_and(|c| c.split_whitespace().any(|w| w == PROBE_MARKER)) {
        println!("{PROBE_OK}");
        return 0;
    }
    load_modules();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("canopy-guest: starting the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(serve_forever());
    0
}

fn mount_kernel_filesystems() -> Result<(), String> {
    let nosuid = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    let mounts: [(&str, &str, &str, MountFlags, Option<&std::ffi::CStr>); 6] = [
        ("proc", "/proc", "proc", nosuid, None),
        ("sysfs", "/sys", "sysfs", nosuid, None),
        ("devtmpfs", "/dev", "devtmpfs", MountFlags::NOSUID, Some(c"mode=0755")),
        (
            "devpts",
            "/dev/pts",
            "devpts",
            MountFlags::NOSUID | MountFlags::NOEXEC,
            Some(c"ptmxmode=0666,gid=5,mode=0620"),
        ),
        ("tmpfs", "/run", "tmpfs", MountFlags::NOSUID | MountFlags::NODEV, Some(c"mode=0755")),
        ("tmpfs", "/tmp", "tmpfs", MountFlags::NOSUID | MountFlags::NODEV, None),
    ];
    for (source, target, fstype, flags, data) in mounts {
        std::fs::create_dir_all(target).map_err(|e| format!("creating {target}: {e}"))?;
        mount(source, target, fstype, flags, data).map_err(|e| format!("mounting {fstype} on {target}: {e}"))?;
    }
    std::fs::create_dir_all(RUN).map_err(|e| format!("creating {RUN}: {e}"))
}

/// Loads the modules the initramfs lists (dependencies first). One that fails is reported and
/// skipped: the server then says what is missing when a device is not found.
fn load_modules() {
    let Ok(list) = std::fs::read_to_string(MODULE_LIST) else { return };
    for path in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let loaded = std::fs::File::open(path).map_err(|e| e.to_string()).and_then(|file| {
            match rustix::system::finit_module(&file, c"", 0) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        });
        if let Err(e) = loaded {
            eprintln!("canopy-guest: loading {path}: {e}");
        }
    }
}

/// Serves one host connection after another on the one open port: the host end closes when
/// the agent restarts, and the next agent connects again.
async fn serve_forever() {
    let guest = std::sync::Arc::new(crate::server::Guest::new());
    let mut port = loop {
        match crate::port::find(PORT_NAME).map(|device| crate::port::Port::open(Path::new(&device))) {
            Some(Ok(port)) => break port,
            Some(Err(e)) => eprintln!("canopy-guest: opening the port {PORT_NAME}: {e}"),
            None => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    loop {
        if let Err(e) = port.handshake().await {
            eprintln!("canopy-guest: reading the port: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        crate::server::serve(guest.clone(), port.clone()).await;
    }
}
