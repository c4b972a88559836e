//! `canopy up`: everything on one machine. The control plane (API server over its embedded
//! store, scheduler, controllers) and, unless `--no-host` is given or the machine cannot run
//! one, a local host in the same process, run as `canopy agent` runs it ([`hosts::run_host`]).
//! A machine that cannot run a host still gets the API, with a message saying what to install.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::hosts::{self, Capacity, ContainerArgs, HostSpec, MicrovmArgs};

#[derive(clap::Args)]
pub struct UpArgs {
    /// Where the store, the PKI, admin.kubeconfig and the local host's state (`host/`) live.
    #[arg(long, default_value = "canopy-data")]
    data_dir: PathBuf,
    /// Address and port to serve the API (HTTPS) on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Run the control plane only, no local host; hosts join with `canopy agent`.
    #[arg(long)]
    no_host: bool,
    /// Where the local host serves logs and exec to the API server (HTTPS; port 0 picks a free
    /// one).
    #[arg(long, default_value = "127.0.0.1:10250")]
    host_listen: SocketAddr,
    #[command(flatten)]
    container: ContainerArgs,
    #[command(flatten)]
    microvm: MicrovmArgs,
    #[command(flatten)]
    capacity: Capacity,
}

pub async fn up(a: UpArgs) -> anyhow::Result<()> {
    let config =
        canopy_apiserver::ServerConfig { data_dir: a.data_dir.clone(), listen: a.listen, extra_sans: Vec::new() };
    let server = crate::start_control_plane(config).await?;
    let kubeconfig = std::path::absolute(&server.kubeconfig).unwrap_or_else(|_| server.kubeconfig.clone());
    let has_host = if a.no_host {
        eprintln!("canopy: control plane only (--no-host): no local host runs pods");
        false
    } else {
        start_local_host(&a, &kubeconfig).await
    };
    print_first_steps(&kubeconfig, has_host, a.container.insecure_registries.first());
    crate::until_stopped(server).await
}

/// Starts the local host in the background; whether one runs. When this machine cannot run one,
/// says why and what to install instead of failing: the API serves either way.
///
/// Which runtime: `microvm` (a VM per pod) when QEMU, a guest kernel and the static guest agent
/// (`scripts/build-guest`) are present, else `container`, saying what the VMs would need. Both
/// need what the container runtime needs (root, iproute2; runc for containers).
async fn start_local_host(a: &UpArgs, kubeconfig: &Path) -> bool {
    let blockers = crate::doctor::container_blockers();
    if !blockers.is_empty() {
        eprintln!("canopy: NO LOCAL HOST: this machine cannot run pods; the API serves without a host");
        for problem in &blockers.problems {
            eprintln!("canopy:   {problem}");
        }
        let install = if blockers.packages.is_empty() {
            String::new()
        } else {
            format!("install what is missing (`apt-get install {}`), then ", blockers.packages.join(" "))
        };
        eprintln!(
            "canopy: for a local host, {install}restart `canopy up`{}; `canopy doctor` tells more, `--no-host` \
             runs the control plane alone without this message",
            if blockers.needs_root { " as root" } else { "" }
        );
        return false;
    }
    let data_dir = a.data_dir.join("host");
    let prepared = async {
        // The local host uses the admin credentials the server just wrote: acceptable for an
        // all-in-one, where the host and the control plane are one process of one operator. A
        // separate host joins with a token bound to `system:node` instead (`canopy agent --server
        // URL --token-file F`).
        let config = crate::directory::admin_config(Some(kubeconfig.to_path_buf())).await?;
        let runtime = a.container.config(&data_dir, &a.capacity)?;
        let missing = a.microvm.missing();
        let vms = if missing.is_empty() {
            Some(a.microvm.runtime(&a.container, &data_dir, &a.capacity).await?)
        } else {
            eprintln!("canopy: pods run as containers; for a VM per pod this machine needs: {}", missing.join("; "));
            None
        };
        anyhow::Ok((config, runtime, vms))
    };
    let (config, runtime, vms) = match prepared.await {
        Ok(prepared) => prepared,
        Err(e) => {
            eprintln!("canopy: NO LOCAL HOST: {e:#}; the API serves without a host");
            return false;
        }
    };
    let name = hosts::hostname();
    eprintln!(
        "canopy: local host {name}: runtime {} offering {} (at most {} pods), state in {}, logs/exec on {}",
        if vms.is_some() { "microvm" } else { "container" },
        crate::machine::describe(&runtime.capacity),
        runtime.max_pods,
        data_dir.display(),
        a.host_listen,
    );
    let identity = canopy_agent::HostIdentity { name, zone: None, address: Some("127.0.0.1".into()) };
    let spec = HostSpec { identity, data_dir, listen: a.host_listen };
    tokio::spawn(async move {
        let make = move || match vms {
            Some(vms) => Ok(vms),
            None => hosts::container_runtime(runtime),
        };
        if let Err(e) = hosts::run_host(config, spec, make).await {
            eprintln!("canopy: the local host stopped: {e:#}; the API still serves");
        }
    });
    true
}

/// What to type first, and where images come from.
fn print_first_steps(kubeconfig: &Path, has_host: bool, insecure_registry: Option<&String>) {
    eprintln!("canopy: ready; in another terminal:");
    eprintln!("    export KUBECONFIG={}", kubeconfig.display());
    if !has_host {
        eprintln!("    kubectl get namespaces");
        crate::print_join_hint(kubeconfig);
        return;
    }
    let registry = insecure_registry.map_or("REGISTRY", String::as_str);
    eprintln!("    kubectl get nodes");
    eprintln!("    kubectl run hello --image={registry}/busybox -- sh -c 'echo hello; sleep 3600'");
    eprintln!("    kubectl logs hello");
    eprintln!(
        "canopy: images come from an OCI registry you name in the image (HOST[:PORT]/REPOSITORY); there is no \
         default registry. For one that speaks plain HTTP, start `canopy up` with --insecure-registry HOST:PORT."
    );
}
