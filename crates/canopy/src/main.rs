//! `canopy`: the one binary of the platform. Thin: parses arguments and calls the crates.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod directory;
mod doctor;
mod hosts;
mod login;
mod machine;
mod up;

/// mimalloc: a server allocating many short-lived JSON trees on several threads keeps far less
/// memory than with glibc's per-thread arenas (`canopy-bench`: 375 MiB instead of 990 MiB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "canopy", version, about = "An open, Kubernetes-compatible platform for KVM hosts")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (HTTPS) over an embedded store in DATA_DIR.
    Server(ServerArgs),
    /// Run everything on this machine: the control plane (API server, scheduler, controllers)
    /// and a local host that runs pods.
    Up(up::UpArgs),
    /// Manage users of the built-in directory (admin).
    User {
        #[command(subcommand)]
        command: directory::UserCommand,
        /// The admin kubeconfig (default: KUBECONFIG, else ~/.kube/config).
        #[arg(long, global = true)]
        kubeconfig: Option<PathBuf>,
    },
    /// Manage groups of the built-in directory (admin).
    Group {
        #[command(subcommand)]
        command: directory::GroupCommand,
        #[arg(long, global = true)]
        kubeconfig: Option<PathBuf>,
    },
    /// Log in with a user name and password; writes a kubeconfig with a context per namespace.
    Login(login::LoginArgs),
    /// Revoke the current context's token and remove it from the kubeconfig.
    Logout(login::LogoutArgs),
    /// Run this machine as a host: register it as a Node and run the pods placed on it.
    Agent(Box<hosts::AgentArgs>),
    /// Simulate many hosts in one process (scale tests); stopping it loses them all.
    Sim(hosts::SimArgs),
    /// Report what this machine can run (KVM, QEMU, guest kernel, runc).
    Doctor,
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Where the store, the PKI and admin.kubeconfig live.
    #[arg(long, env = "CANOPY_DATA_DIR")]
    data_dir: PathBuf,
    /// Address and port to serve HTTPS on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Extra DNS names or IPs for the serving certificate (repeatable).
    #[arg(long = "tls-san")]
    tls_sans: Vec<String>,
}

/// The API server with the platform's controllers and scheduler beside it, until it stops.
async fn start_control_plane(
    config: canopy_apiserver::ServerConfig,
) -> anyhow::Result<canopy_apiserver::RunningServer> {
    let server = canopy_apiserver::start(config).await.context("starting the API server")?;
    eprintln!("canopy: serving {} (kubeconfig: {})", server.url, server.kubeconfig.display());
    // The platform's controllers and scheduler are API clients like any other, in-process:
    // authenticated and authorized as over HTTPS, without the TLS and TCP round trips.
    let local = server.local();
    let controllers_client = local.client();
    tokio::spawn(async move {
        if let Err(e) = canopy_controllers::run(controllers_client).await {
            tracing::error!(error = %e, "the controllers stopped");
        }
    });
    canopy_scheduler::driver::spawn_dedicated(move || async move { Ok(local.client()) })
        .context("starting the scheduler's thread")?;
    Ok(server)
}

/// How hosts join a control plane that runs none itself.
fn print_join_hint(kubeconfig: &std::path::Path) {
    eprintln!(
        "canopy: hosts join with `canopy agent --kubeconfig {0}` (or `canopy sim --kubeconfig {0} --hosts 3`); \
         `canopy doctor` tells what this machine can run",
        kubeconfig.display()
    );
}

/// Serves until the server fails, Ctrl-C or SIGTERM.
async fn until_stopped(server: canopy_apiserver::RunningServer) -> anyhow::Result<()> {
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("SIGTERM handler")?;
    tokio::select! {
        r = server.wait() => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("canopy: interrupted, stopping");
            Ok(())
        }
        _ = term.recv() => {
            eprintln!("canopy: terminated, stopping");
            Ok(())
        }
    }
}

async fn serve(a: ServerArgs) -> anyhow::Result<()> {
    let config = canopy_apiserver::ServerConfig { data_dir: a.data_dir, listen: a.listen, extra_sans: a.tls_sans };
    let server = start_control_plane(config).await?;
    eprintln!("canopy: try `kubectl --kubeconfig {} get namespaces`", server.kubeconfig.display());
    print_join_hint(&server.kubeconfig);
    until_stopped(server).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Server(a) => serve(a).await,
        Command::Up(a) => up::up(a).await,
        Command::User { command, kubeconfig } => directory::user(command, kubeconfig).await,
        Command::Group { command, kubeconfig } => directory::group(command, kubeconfig).await,
        Command::Login(a) => login::login(a).await,
        Command::Logout(a) => login::logout(a).await,
        Command::Agent(a) => hosts::agent(*a).await,
        Command::Sim(a) => hosts::sim(a).await,
        Command::Doctor => doctor::doctor(),
    }
}
