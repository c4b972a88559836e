//! `canopy-guest`: PID 1 of a pod's microVM. It mounts the kernel's filesystems, loads the
//! virtio modules listed in the initramfs, then serves the host agent over the virtio-serial
//! port (see `canopy_guest::protocol`): it configures the NIC, writes volumes, and runs the
//! pod's containers, each in its own mount, PID, UTS and IPC namespaces on its image disk.
//!
//! The same binary is the helper that sets a container up (`container-init`, then
//! `container-start` as the container's PID 1) and the one that enters a container for exec
//! (`container-exec`): namespaces are entered by a fresh process, never by the server's threads.

mod containers;
mod exec;
mod init;
mod network;
mod port;
mod server;
mod stage;
mod volumes;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("container-init") => stage::init(&args[1..]),
        Some("container-start") => stage::start(&args[1..]),
        Some("container-exec") => stage::exec(&args[1..]),
        _ if std::process::id() == 1 => init::run(),
        _ => {
            eprintln!(
                "canopy-guest is the init of a Canopy pod VM (kernel command line `{}`); it is not run by hand",
                canopy_guest::protocol::INIT_MARKER
            );
            2
        }
    };
    std::process::exit(code);
}
