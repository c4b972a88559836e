//! Run 6 on a fresh server: resident memory per 100,000 stored small ConfigMaps; then the list
//! figure again with small objects.

use std::path::Path;
use std::time::Duration;

use kube::api::PostParams;

use crate::api::{LIST_OBJECTS, LIST_RUNS};
use crate::child::ServerProcess;
use crate::load::{self, Clients, config_map};
use crate::report::{Report, thousands, verdict};
use crate::stats::{mib, ms};
use crate::{CLIENTS, Options, WORKERS, progress};

/// Longest the 100,000-object population may take; the figure is scaled from what was stored.
const TIME_CAP: Duration = Duration::from_secs(75);

pub async fn run(opts: &Options, tmp: &Path, report: &mut Report) -> anyhow::Result<()> {
    let data_dir = tmp.join("canopy-memory");
    let mut server = ServerProcess::spawn(&data_dir).await?;
    let clients = Clients::connect(&server.kubeconfig, CLIENTS).await?;
    for ns in ["bench-warm", "bench-memory", "bench-list-small"] {
        clients.create_namespace(ns).await?;
    }
    load::populate(&clients, "bench-warm", "warm", 1_000, WORKERS, "v", Duration::from_secs(30)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.rss_bytes()?;
    let small_len = serde_json::to_vec(&config_map("m-000000".into(), "k", "v".into()))?.len();
    let filled = load::populate(&clients, "bench-memory", "m", opts.memory_objects, WORKERS, "v", TIME_CAP).await?;
    progress(filled.line("6 memory population"));
    // One more create after the population, so every earlier write is surely in.
    let last = config_map("m-last".into(), "k", "v".into());
    clients.config_maps(0, "bench-memory").create(&PostParams::default(), &last).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_bytes()?;
    let stored = filled.ops + 1;
    let per_100k = after.saturating_sub(before) as f64 * 100_000.0 / stored as f64;
    let disk = std::fs::metadata(data_dir.join("store.redb")).map(|m| m.len()).unwrap_or(0);
    progress(format!("6 memory: RSS {} -> {} for {stored} objects; store file {}", mib(before), mib(after), mib(disk)));
    report.add(
        "6",
        format!(
            "server RSS per 100,000 stored small ConfigMaps ({small_len} B bodies; {} stored)",
            thousands(stored as f64)
        ),
        mib(per_100k as u64),
        format!("RSS {} -> {}; store file {}", mib(before), mib(after), mib(disk)),
    );
    report.add(
        "6",
        format!("  create throughput while storing them ({WORKERS} clients)"),
        format!("{}/s, p99 {}", thousands(filled.per_sec()), ms(filled.latency.p99)),
        "",
    );

    // The list figure again with small objects, after the memory reading.
    let filled =
        load::populate(&clients, "bench-list-small", "s", LIST_OBJECTS, WORKERS, "v", Duration::from_secs(60)).await?;
    anyhow::ensure!(filled.ops == LIST_OBJECTS, "stored {} of {LIST_OBJECTS} objects for the list", filled.ops);
    let (lists, list_bytes) = load::time_lists(&clients, "bench-list-small", LIST_OBJECTS, LIST_RUNS).await?;
    progress(format!(
        "4b list: median {} of {LIST_RUNS}, max {}, {}",
        ms(lists.p50),
        ms(lists.max),
        mib(list_bytes as u64)
    ));
    report.add(
        "4b",
        format!(
            "list of {} small ConfigMaps ({small_len} B each, {} JSON) beside the {} of run 6, median of {LIST_RUNS}",
            thousands(LIST_OBJECTS as f64),
            mib(list_bytes as u64),
            thousands(stored as f64)
        ),
        format!("{} (max {})", ms(lists.p50), ms(lists.max)),
        verdict("< 200 ms", lists.p50 < Duration::from_millis(200)),
    );
    Ok(())
}
