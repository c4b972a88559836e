//! Store benchmark: prints concurrent put throughput and latency for `RedbStore` (durable,
//! group commit) and `MemoryStore`, and the time to list 10,000 keys.
//!
//! Run: `cargo run --release -p canopy-store --example store_bench -- [--writers 64]
//! [--seconds 5] [--dir /path/on/the/disk/to/measure]`. Values are 256 bytes, as in etcd's
//! published benchmark.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use canopy_store::{ListOptions, MemoryStore, Precondition, RedbStore, Store};
use tokio::task::JoinSet;
use tokio::time::Instant;

const VALUE_SIZE: usize = 256;
const LIST_KEYS: usize = 10_000;

struct Args {
    writers: usize,
    seconds: u64,
    dir: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args { writers: 64, seconds: 5, dir: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--writers" => args.writers = value.parse().expect("--writers takes a number"),
            "--seconds" => args.seconds = value.parse().expect("--seconds takes a number"),
            "--dir" => args.dir = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// `writers` tasks put to their own 500 keys for `duration`; prints throughput and latency.
async fn put_throughput<S: Store>(name: &str, store: Arc<S>, writers: usize, duration: Duration) {
    let value = Bytes::from(vec![b'v'; VALUE_SIZE]);
    let deadline = Instant::now() + duration;
    let mut tasks = JoinSet::new();
    for writer in 0..writers {
        let (store, value) = (store.clone(), value.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0usize;
            while Instant::now() < deadline {
                let key = format!("/bench/{writer:03}/{:03}", i % 500);
                let start = Instant::now();
                store.put(&key, value.clone(), Precondition::None).await.expect("put");
                latencies.push(start.elapsed());
                i += 1;
            }
            latencies
        });
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("writer task"));
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    println!(
        "{name:<8} put, {writers:>3} writers: {:>8} writes in {:.1} s = {:>8.0} writes/s; latency p50 {:>8.2?} p99 {:>8.2?} max {:>8.2?}",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
    );
}

/// Loads `LIST_KEYS` keys, then times full lists, paginated lists and a list at an old revision.
async fn list_times<S: Store>(name: &str, store: Arc<S>) {
    let value = Bytes::from(vec![b'l'; VALUE_SIZE]);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for writer in 0..64 {
        let (store, value) = (store.clone(), value.clone());
        tasks.spawn(async move {
            for i in (writer..LIST_KEYS).step_by(64) {
                store.put(&format!("/list/{i:05}"), value.clone(), Precondition::None).await.expect("put");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("loader task");
    }
    let load = started.elapsed();
    let before_updates = store.current_revision();
    for i in (0..LIST_KEYS).step_by(10) {
        store.put(&format!("/list/{i:05}"), value.clone(), Precondition::None).await.expect("update");
    }

    let prefix = ListOptions { prefix: "/list/".into(), ..ListOptions::default() };
    let full = time_lists(&*store, prefix.clone()).await;
    let old = time_lists(&*store, ListOptions { revision: Some(before_updates), ..prefix.clone() }).await;
    let page = time_lists(&*store, ListOptions { limit: Some(500), ..prefix }).await;
    println!(
        "{name:<8} list of {LIST_KEYS} keys (loaded in {load:.2?} by 64 writers): latest p50 {full:.2?}; \
         at a revision 1,000 writes old p50 {old:.2?}; first page of 500 p50 {page:.2?}"
    );
}

async fn time_lists<S: Store>(store: &S, opts: ListOptions) -> Duration {
    let mut times = Vec::new();
    for _ in 0..21 {
        let start = Instant::now();
        let result = store.list(opts.clone()).await.expect("list");
        times.push(start.elapsed());
        assert!(!result.items.is_empty());
    }
    times.sort_unstable();
    percentile(&times, 0.5)
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let dir = match &args.dir {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("create a temporary directory");
    let duration = Duration::from_secs(args.seconds);
    println!("data in {}; {} s per run; values of {VALUE_SIZE} bytes", dir.path().display(), args.seconds);

    let redb = Arc::new(RedbStore::open(dir.path().join("bench.redb")).expect("open redb"));
    put_throughput("redb", redb.clone(), args.writers, duration).await;
    let stats = redb.commit_stats();
    println!(
        "redb     group commit: {} commits, {:.1} writes per commit",
        stats.commits,
        stats.writes as f64 / stats.commits as f64
    );
    put_throughput("redb", redb.clone(), 1, duration).await;
    list_times("redb", redb).await;

    let memory = Arc::new(MemoryStore::new());
    put_throughput("memory", memory.clone(), args.writers, duration).await;
    list_times("memory", memory).await;
}
