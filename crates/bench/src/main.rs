//! `canopy-bench`: starts a Canopy server in a child process, drives it over HTTPS with kube-rs
//! and prints throughput, latency, list, watch and memory figures, with etcd 3.4 (when
//! installed) as a baseline for durable writes on the same disk. A benchmark, not a test: it
//! prints figures and asserts nothing about them.
//!
//! Run: `cargo run --release -p canopy-bench [-- --dir /path/on/the/disk/to/measure]`.

mod api;
mod child;
mod etcd;
mod load;
mod machine;
mod memory;
mod microvm;
mod placement;
mod report;
mod stats;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::machine::Machine;
use crate::report::{Report, thousands, verdict};
use crate::stats::{Throughput, ms};

/// mimalloc: a server allocating many short-lived JSON trees on several threads keeps far less
/// memory than with glibc's per-thread arenas (`canopy-bench`: 375 MiB instead of 990 MiB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Concurrent clients for the closed-loop runs.
const WORKERS: usize = 64;
/// kube clients (connection pools) the workers share.
const CLIENTS: usize = 8;

#[derive(Parser)]
#[command(name = "canopy-bench", about = "Prints Canopy API server figures (and an etcd baseline)")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    #[command(flatten)]
    options: Options,
}

#[derive(Subcommand)]
enum Mode {
    /// Internal: run a server on DATA_DIR and print its URL and kubeconfig as JSON on stdout.
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        listen: SocketAddr,
        /// Also run the scheduler and the controllers.
        #[arg(long)]
        platform: bool,
    },
    /// Internal: run simulated hosts until stdin closes.
    #[command(hide = true)]
    SimHosts {
        #[arg(long)]
        kubeconfig: PathBuf,
        #[arg(long)]
        hosts: usize,
        #[arg(long)]
        zones: usize,
        #[arg(long)]
        prefix: String,
    },
    /// Placement figures: 1,000 simulated hosts, 30,000 pods, scheduling throughput, startup
    /// latency, balance and recovery from a host loss.
    Placement(placement::PlacementOptions),
    /// Pod VM figures: create-to-Running latency, boot and the kernel's share, host memory
    /// overhead per VM, with the accelerator used (needs root, QEMU and the guest kernel).
    Microvm(microvm::MicrovmOptions),
}

#[derive(clap::Args)]
pub struct Options {
    /// Where the temporary data directories go (the disk being measured). Default: $TMPDIR or /tmp.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Length of each closed-loop run (creates, gets, etcd puts).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent watchers on one namespace.
    #[arg(long, default_value_t = 1000)]
    watchers: usize,
    /// Objects stored for the memory figure.
    #[arg(long, default_value_t = 100_000)]
    memory_objects: usize,
    /// Skip the etcd baseline even if etcd is installed.
    #[arg(long)]
    no_etcd: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    match cli.mode {
        Some(Mode::Serve { data_dir, listen, platform }) => runtime.block_on(child::serve(data_dir, listen, platform)),
        Some(Mode::SimHosts { kubeconfig, hosts, zones, prefix }) => {
            runtime.block_on(child::sim_hosts(kubeconfig, hosts, zones, prefix))
        }
        Some(Mode::Placement(opts)) => runtime.block_on(placement::run(opts)),
        Some(Mode::Microvm(opts)) => runtime.block_on(microvm::run(opts)),
        None => runtime.block_on(async {
            // On Ctrl-C or SIGTERM the benchmark future is dropped, so its guards kill the
            // children and remove the temporary directories (as they do on an error or a panic).
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("installing a SIGTERM handler")?;
            tokio::select! {
                r = bench(cli.options) => r,
                _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
                _ = term.recv() => anyhow::bail!("terminated"),
            }
        }),
    }
}

pub fn progress(msg: impl AsRef<str>) {
    eprintln!("canopy-bench: {}", msg.as_ref());
}

async fn bench(opts: Options) -> anyhow::Result<()> {
    let parent = opts.dir.clone().unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix("canopy-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    let machine = Machine::probe(tmp.path());
    let load_before = machine::load_average();
    progress(format!(
        "{} CPUs ({}), data under {} ({})",
        machine.nproc,
        machine.cpu,
        tmp.path().display(),
        machine.disk
    ));
    let mut report = Report::default();

    // etcd runs beside the Canopy server so that its puts can alternate with Canopy's creates
    // (the machine is shared: alternating keeps both exposed to the same background load).
    let etcd_bin = if opts.no_etcd { None } else { etcd::find_binary() };
    let etcd = match &etcd_bin {
        Some(bin) => Some(etcd::start(bin, &tmp.path().join("etcd")).await?),
        None => None,
    };
    let creates = api::runs(&opts, tmp.path(), etcd.as_ref(), &mut report).await?;
    drop(etcd);
    memory::run(&opts, tmp.path(), &mut report).await?;
    match &creates.etcd {
        Some((version, puts)) => etcd_rows(&opts, &creates.canopy, puts, version, creates.value_len, &mut report),
        None => {
            let why = if opts.no_etcd { "--no-etcd" } else { "no etcd on PATH (apt-get install etcd-server)" };
            progress(format!("7 etcd baseline skipped: {why}"));
            report.add("7", "etcd baseline", "skipped", why);
        }
    }

    println!();
    println!("Canopy benchmark: server in a child process (release build), kube-rs clients over HTTPS (HTTP/1.1),");
    println!(
        "all on one machine: {} CPUs ({}), {} RAM, Linux {}",
        machine.nproc, machine.cpu, machine.memory, machine.kernel
    );
    println!("data dirs under {}: {}", parent.display(), machine.disk);
    println!("load average (1 min) at start / end: {load_before} / {}", machine::load_average());
    println!();
    print!("{}", report.render());
    println!();
    println!("Notes: client and server share the CPUs, so every figure includes the client's own TLS and JSON");
    println!("work. Closed-loop latency is per request; the open-loop run counts from the scheduled send time.");
    println!("Watch receipt is timed when each watcher task reads the event; receipts before the create's ack");
    println!("count as 0 from the ack. RSS is VmRSS of the server process alone.");
    if creates.etcd.is_some() {
        println!("Run 1 and the etcd puts alternate in halves (Canopy, etcd, Canopy, etcd). The etcd figure goes");
        println!("through etcd's JSON gRPC gateway (POST /v3/kv/put, base64 key and value) over HTTP/1.1");
        println!("keep-alive connections, whose transcoding costs etcd CPU that a native gRPC client would not spend.");
    }
    Ok(())
}

fn etcd_rows(
    opts: &Options,
    canopy: &Throughput,
    puts: &Throughput,
    version: &str,
    value_len: usize,
    report: &mut Report,
) {
    let secs = opts.seconds;
    report.add(
        "7",
        format!(
            "etcd put throughput ({version}, JSON gRPC gateway, {WORKERS} clients, {value_len} B values, {secs} s)"
        ),
        format!("{}/s ({} errors)", thousands(puts.per_sec()), puts.errors),
        "",
    );
    report.add("7", "etcd put latency p50 / p99", format!("{} / {}", ms(puts.latency.p50), ms(puts.latency.p99)), "");
    let ratio = canopy.per_sec() / puts.per_sec().max(f64::MIN_POSITIVE);
    report.add("7", "Canopy create / etcd put throughput", format!("{ratio:.2}x"), verdict(">= 1.0", ratio >= 1.0));
    let p99_ratio = canopy.latency.p99.as_secs_f64() / puts.latency.p99.as_secs_f64().max(f64::MIN_POSITIVE);
    report.add("7", "Canopy create p99 / etcd put p99", format!("{p99_ratio:.2}x"), "lower is better");
}
