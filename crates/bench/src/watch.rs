//! Watch fan-out: many watchers on one namespace, objects created at a modest rate, each
//! carrying its send time; latency from the create's acknowledgement to each watcher's receipt.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, PostParams, WatchEvent, WatchParams};
use kube::{Api, Client};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::load::{Clients, config_map};
use crate::stats::Summary;

pub struct WatchSetup {
    pub watchers: usize,
    pub objects: usize,
    /// Creates per second.
    pub rate: u32,
}

pub struct WatchResult {
    pub setup_time: Duration,
    pub expected: usize,
    pub delivered: usize,
    /// Receipts that came before the writer had the create's response (counted as 0 from ack).
    pub before_ack: usize,
    pub watch_errors: usize,
    pub from_ack: Summary,
    pub from_send: Summary,
    /// The creates' own latency (send to ack) while the watchers are fed.
    pub writes: Summary,
}

/// What one watcher saw: (object index, send time carried by the object, receipt time).
type Receipts = Vec<(usize, Instant, Instant)>;

/// Runs the watch measurement in `ns` (which must be empty).
pub async fn watch_latency(clients: &Clients, ns: &str, setup: &WatchSetup) -> anyhow::Result<WatchResult> {
    let base = Instant::now();
    let list = clients.config_maps(0, ns).list(&ListParams::default().limit(1)).await.context("listing")?;
    let rv = list.metadata.resource_version.context("the list has no resourceVersion")?;

    let (ready_tx, mut ready_rx) = mpsc::channel::<anyhow::Result<()>>(setup.watchers);
    let (stop_tx, stop_rx) = watch::channel(false);
    // Bound the TLS handshakes in flight while the watchers connect.
    let connecting = Arc::new(Semaphore::new(64));
    let mut tasks = JoinSet::new();
    for w in 0..setup.watchers {
        let api = clients.config_maps(w, ns);
        let (ready_tx, mut stop_rx, connecting, rv) =
            (ready_tx.clone(), stop_rx.clone(), connecting.clone(), rv.clone());
        let expected = setup.objects;
        tasks.spawn(async move {
            let mut receipts = Receipts::with_capacity(expected);
            let mut errors = 0usize;
            let stream = {
                let _permit = connecting.acquire().await;
                api.watch(&WatchParams::default().timeout(280), &rv).await
            };
            let stream = match stream {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(())).await;
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow::Error::new(e).context("starting a watch"))).await;
                    return (receipts, errors);
                }
            };
            let mut stream = std::pin::pin!(stream);
            while receipts.len() < expected {
                let event = tokio::select! {
                    e = stream.next() => e,
                    _ = stop_rx.changed() => break,
                };
                let now = Instant::now();
                match event {
                    Some(Ok(WatchEvent::Added(cm))) => match parse_watched(&cm, base) {
                        Some((i, sent)) => receipts.push((i, sent, now)),
                        None => errors += 1,
                    },
                    Some(Ok(WatchEvent::Bookmark(_))) => {}
                    Some(Ok(_)) | Some(Err(_)) => errors += 1,
                    None => break,
                }
            }
            (receipts, errors)
        });
    }
    drop(ready_tx);
    for _ in 0..setup.watchers {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e),
            None => bail!("watchers ended before starting"),
        }
    }
    let setup_time = base.elapsed();

    // The writer runs on a thread and runtime of its own, so the acknowledgement is timed when it
    // arrives rather than when a worker busy with 1,000 watch streams gets to it.
    let timed = write_timed(clients.config().clone(), ns.to_string(), setup.objects, setup.rate, base).await?;
    let writes = Summary::of(timed.iter().map(|(sent, ack)| *ack - *sent).collect());
    let acks: Vec<Instant> = timed.into_iter().map(|(_, ack)| ack).collect();

    // Give the stragglers time, then stop whoever has not seen everything.
    let grace = tokio::time::sleep(Duration::from_secs(15));
    let mut grace = std::pin::pin!(grace);
    let mut all = Vec::new();
    let mut watch_errors = 0;
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                Some(joined) => {
                    let (receipts, errors) = joined.context("watcher panicked")?;
                    all.push(receipts);
                    watch_errors += errors;
                }
                None => break,
            },
            _ = &mut grace, if !*stop_tx.borrow() => {
                let _ = stop_tx.send(true);
            }
        }
    }

    let mut from_ack = Vec::new();
    let mut from_send = Vec::new();
    let mut before_ack = 0;
    for (i, sent, received) in all.into_iter().flatten() {
        let Some(&ack) = acks.get(i) else { continue };
        if received < ack {
            before_ack += 1;
        }
        from_ack.push(received.saturating_duration_since(ack));
        from_send.push(received.saturating_duration_since(sent));
    }
    Ok(WatchResult {
        setup_time,
        expected: setup.watchers * setup.objects,
        delivered: from_ack.len(),
        before_ack,
        watch_errors,
        from_ack: Summary::of(from_ack),
        from_send: Summary::of(from_send),
        writes,
    })
}

/// The index in a watched object's name and the send time it carries.
fn parse_watched(cm: &ConfigMap, base: Instant) -> Option<(usize, Instant)> {
    let index = cm.metadata.name.as_deref()?.strip_prefix("w-")?.parse().ok()?;
    let nanos: u64 = cm.data.as_ref()?.get("sentNanos")?.parse().ok()?;
    Some((index, base + Duration::from_nanos(nanos)))
}

/// Creates `objects` ConfigMaps `w-<i>` at `rate` per second, each carrying its send time (ns
/// since `base`), from a dedicated thread; returns each create's send and acknowledgement times.
async fn write_timed(
    config: kube::Config,
    ns: String,
    objects: usize,
    rate: u32,
    base: Instant,
) -> anyhow::Result<Vec<(Instant, Instant)>> {
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let run = async move {
            let api: Api<ConfigMap> = Api::namespaced(Client::try_from(config)?, &ns);
            api.list(&ListParams::default().limit(1)).await.context("opening the writer's connection")?;
            let period = Duration::from_secs(1) / rate.max(1);
            let mut acks = Vec::with_capacity(objects);
            let start = Instant::now();
            for i in 0..objects {
                tokio::time::sleep_until(start + period * i as u32).await;
                let sent = Instant::now();
                let sent_nanos = sent.duration_since(base).as_nanos().to_string();
                let cm: ConfigMap = config_map(format!("w-{i:05}"), "sentNanos", sent_nanos);
                api.create(&PostParams::default(), &cm).await.context("creating a watched object")?;
                acks.push((sent, Instant::now()));
            }
            anyhow::Ok(acks)
        };
        let result = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the writer's runtime")
            .and_then(|rt| rt.block_on(run));
        let _ = tx.send(result);
    });
    rx.await.context("the writer thread died")?
}
