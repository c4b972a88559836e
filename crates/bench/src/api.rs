//! Runs 1-5 on one Canopy server: creates (alternating with etcd puts when etcd is there),
//! open-loop writes, gets, a 10,000-object list, watch fan-out.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::child::ServerProcess;
use crate::etcd::{self, Etcd};
use crate::load::{self, Clients, config_map};
use crate::report::{Report, thousands, verdict};
use crate::stats::{Throughput, mib, ms};
use crate::{CLIENTS, Options, WORKERS, progress, watch};

/// Request body size of the ConfigMaps created in runs 1-4.
const BODY_SIZE: usize = 1024;
const OPEN_LOOP_RATE: u32 = 1000;
const OPEN_LOOP_TIME: Duration = Duration::from_secs(5);
pub const LIST_OBJECTS: usize = 10_000;
pub const LIST_RUNS: usize = 5;
const WATCH_OBJECTS: usize = 100;
const WATCH_RATE: u32 = 20;

/// Run 1 and its etcd counterpart, for the comparison rows.
pub struct Creates {
    pub canopy: Throughput,
    /// etcd's version and puts, when etcd ran.
    pub etcd: Option<(String, Throughput)>,
    /// Size of a stored ConfigMap as the server returns it; the etcd values have this size.
    pub value_len: usize,
}

pub async fn runs(opts: &Options, tmp: &Path, etcd: Option<&Etcd>, report: &mut Report) -> anyhow::Result<Creates> {
    let mut server = ServerProcess::spawn(&tmp.join("canopy")).await?;
    let rss = server.rss_bytes()?;
    progress(format!("server at {} (RSS {})", server.url, mib(rss)));
    let clients = Clients::connect(&server.kubeconfig, CLIENTS).await?;
    for ns in ["bench", "bench-warm", "bench-list", "bench-watch"] {
        clients.create_namespace(ns).await?;
    }
    let payload = load::payload_for_body_size(BODY_SIZE);
    let body_len = serde_json::to_vec(&config_map("c0-00-000000".into(), "payload", payload.clone()))?.len();
    let sample = config_map("c0-00-000000".into(), "payload", payload.clone());
    let api = clients.config_maps(0, "bench-warm");
    let stored = api.create(&Default::default(), &sample).await.context("creating a sample object")?;
    let value_len = serde_json::to_vec(&stored)?.len();

    // Warm-up: open the connections and let the allocator and the store settle.
    let warm = load::populate(&clients, "bench-warm", "warm", 2_000, WORKERS, "v", Duration::from_secs(30)).await?;
    progress(warm.line("warm-up creates"));
    if let Some(etcd) = etcd {
        let warm = etcd::put_closed_loop(etcd, 9, WORKERS, Duration::from_millis(500), value_len).await?;
        progress(warm.line("warm-up etcd puts"));
    }

    // 1. Closed-loop creates, in two halves alternating with etcd's puts.
    let duration = Duration::from_secs(opts.seconds);
    let half = (duration / 2).max(Duration::from_secs(1));
    let mut canopy_runs = Vec::new();
    let mut etcd_runs = Vec::new();
    let mut created = Vec::new();
    for round in 0..2 {
        let (run, names) = load::create_closed_loop(&clients, "bench", round, WORKERS, half, &payload).await?;
        progress(run.line(&format!("1 creates, half {}", round + 1)));
        canopy_runs.push(run);
        created.extend(names);
        if let Some(etcd) = etcd {
            let run = etcd::put_closed_loop(etcd, round, WORKERS, half, value_len).await?;
            progress(run.line(&format!("7 etcd puts, half {}", round + 1)));
            etcd_runs.push(run);
        }
    }
    let creates = Throughput::combine(canopy_runs);
    let secs = creates.elapsed.as_secs_f64();
    report.add(
        "1",
        format!("create throughput ({WORKERS} clients, {body_len} B ConfigMaps, {secs:.0} s closed loop)"),
        format!(
            "{}/s ({} creates, {} errors)",
            thousands(creates.per_sec()),
            thousands(creates.ops as f64),
            creates.errors
        ),
        "",
    );
    report.add(
        "1",
        "create latency p50 / p99",
        format!("{} / {}", ms(creates.latency.p50), ms(creates.latency.p99)),
        "",
    );
    let rss_after_creates = server.rss_bytes()?;

    // 2. Open-loop writes at a fixed rate.
    let open = load::write_open_loop(&clients, "bench", OPEN_LOOP_RATE, OPEN_LOOP_TIME, &payload).await?;
    progress(open.run.line("2 open-loop creates"));
    report.add(
        "2",
        format!("single-object create at {OPEN_LOOP_RATE}/s open loop, {} s: achieved rate", OPEN_LOOP_TIME.as_secs()),
        format!(
            "{}/s ({} of {} ok, {} errors)",
            thousands(open.run.per_sec()),
            open.run.ops,
            open.sent,
            open.run.errors
        ),
        format!("target {}/s", open.target_rate),
    );
    report.add(
        "2",
        "  latency from scheduled send p50 / p99",
        format!("{} / {}", ms(open.run.latency.p50), ms(open.run.latency.p99)),
        verdict("p99 < 10 ms", open.run.latency.p99 < Duration::from_millis(10) && open.run.errors == 0),
    );
    report.add(
        "2",
        "  latency from actual send p50 / p99",
        format!("{} / {}", ms(open.from_send.p50), ms(open.from_send.p99)),
        "(without the sender's timer slack, up to 1 ms)",
    );

    // 3. Closed-loop gets.
    let gets = load::get_closed_loop(&clients, "bench", WORKERS, duration, created).await?;
    progress(gets.line("3 gets"));
    let rss_after_gets = server.rss_bytes()?;
    report.add(
        "3",
        format!("get throughput ({WORKERS} clients, random objects of run 1, {} s)", opts.seconds),
        format!("{}/s ({} errors)", thousands(gets.per_sec()), gets.errors),
        "",
    );
    report.add("3", "get latency p50 / p99", format!("{} / {}", ms(gets.latency.p50), ms(gets.latency.p99)), "");

    // 4. Full lists of 10,000 objects.
    let filled =
        load::populate(&clients, "bench-list", "l", LIST_OBJECTS, WORKERS, &payload, Duration::from_secs(120)).await?;
    progress(filled.line("4 list population"));
    anyhow::ensure!(filled.ops == LIST_OBJECTS, "stored {} of {LIST_OBJECTS} objects for the list", filled.ops);
    let (lists, list_bytes) = load::time_lists(&clients, "bench-list", LIST_OBJECTS, LIST_RUNS).await?;
    let rss_after_list = server.rss_bytes()?;
    let stored_by_run_4 = 1 + warm.ops + creates.ops + open.run.ops + filled.ops;
    progress(format!(
        "4 list: median {} of {LIST_RUNS}, max {}, {}",
        ms(lists.p50),
        ms(lists.max),
        mib(list_bytes as u64)
    ));
    report.add(
        "4",
        format!(
            "list of {} ConfigMaps ({body_len} B each, {} JSON), median of {LIST_RUNS}",
            thousands(LIST_OBJECTS as f64),
            mib(list_bytes as u64)
        ),
        format!("{} (max {})", ms(lists.p50), ms(lists.max)),
        verdict("< 200 ms", lists.p50 < Duration::from_millis(200)),
    );

    // 5. Watch fan-out.
    let setup = watch::WatchSetup { watchers: opts.watchers, objects: WATCH_OBJECTS, rate: WATCH_RATE };
    let w = watch::watch_latency(&clients, "bench-watch", &setup).await?;
    progress(format!(
        "5 watch: {} watchers up in {:.1} s, {} of {} delivered, p50 {} p99 {} from ack ({} before the ack), {} watch errors",
        setup.watchers,
        w.setup_time.as_secs_f64(),
        w.delivered,
        w.expected,
        ms(w.from_ack.p50),
        ms(w.from_ack.p99),
        w.before_ack,
        w.watch_errors
    ));
    report.add(
        "5",
        format!(
            "watch delivery, {} watchers, {WATCH_OBJECTS} creates at {WATCH_RATE}/s: from create ack p50 / p99",
            setup.watchers
        ),
        format!("{} / {}", ms(w.from_ack.p50), ms(w.from_ack.p99)),
        verdict("p99 < 50 ms", w.from_ack.p99 < Duration::from_millis(50) && w.delivered == w.expected),
    );
    report.add(
        "5",
        "  from the send time carried in the object p50 / p99",
        format!("{} / {}", ms(w.from_send.p50), ms(w.from_send.p99)),
        format!("{} of {} events delivered, {} arrived before the ack", w.delivered, w.expected, w.before_ack),
    );
    report.add(
        "5",
        "  the creates' own latency during the fan-out p50 / p99",
        format!("{} / {}", ms(w.writes.p50), ms(w.writes.p99)),
        "",
    );
    let rss_after_watch = server.rss_bytes()?;
    report.add(
        "",
        format!(
            "server RSS after runs 1 / 3 / 4 / 5 ({} objects stored by run 4, then {} watches)",
            thousands(stored_by_run_4 as f64),
            setup.watchers
        ),
        format!(
            "{} / {} / {} / {}",
            mib(rss_after_creates),
            mib(rss_after_gets),
            mib(rss_after_list),
            mib(rss_after_watch)
        ),
        "",
    );
    let etcd = etcd.map(|etcd| (etcd.version.clone(), Throughput::combine(etcd_runs)));
    Ok(Creates { canopy: creates, etcd, value_len })
}
