//! watch: a chunked stream of newline-delimited `{"type": ..., "object": ...}` events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use canopy_store::{Event, EventKind, Revision, StoreError};
use futures::{FutureExt, StreamExt};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::negotiate::{self, Output};
use crate::objects::{ListParams, parse_rv};
use crate::table;

/// Bookmarks are sent this often when the client allows them.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);
/// Events already waiting are sent in one chunk of up to about this many bytes.
const BATCH_BYTES: usize = 64 * 1024;
/// A watch without `timeoutSeconds` ends after this long (clients re-watch), as upstream.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

pub async fn watch(ctx: Ctx) -> ApiResult<Response> {
    let out = negotiate::output(&ctx.headers)?;
    let filter = Filter::parse(&ctx.res, ctx.query.get("labelSelector"), ctx.query.get("fieldSelector"))?;
    let rv = ctx.query.get("resourceVersion");
    let send_initial = ctx.query.flag("sendInitialEvents") || rv.is_none_or(|r| r == "0");
    let bookmarks = ctx.query.flag("allowWatchBookmarks");
    let initial_end_marker = ctx.query.flag("sendInitialEvents");
    let timeout =
        ctx.query.int("timeoutSeconds")?.filter(|t| *t > 0).map_or(DEFAULT_TIMEOUT, |t| Duration::from_secs(t as u64));
    let include = ctx.query.get("includeObject").unwrap_or("Metadata").to_string();
    if let Some(name) = &ctx.path.name {
        return Err(ApiError::BadRequest(format!(
            "watch of a single object {name} is done with fieldSelector=metadata.name={name}"
        )));
    }
    let prefix = ctx.res.scope_prefix(ctx.ns());
    let (initial, from) = if send_initial {
        let page = ctx.api.objects.list_matching(&ctx.res, ctx.ns(), &ListParams::default(), &filter).await?;
        (page.items, page.resource_version)
    } else {
        (Vec::new(), parse_rv(rv.unwrap_or("0"))?)
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let store_stream = ctx.api.objects.store.watch(&prefix, from).await;
    tokio::spawn(async move {
        let send = |ev: Value| {
            let tx = tx.clone();
            async move {
                let mut line = serde_json::to_vec(&ev).expect("a serde_json::Value always serialises");
                line.push(b'\n');
                tx.send(Bytes::from(line)).await.is_ok()
            }
        };
        let render = |obj: Value| match out {
            Output::Table => table::to_table(&ctx.res, std::slice::from_ref(&obj), json!({}), &include),
            Output::Metadata => crate::negotiate::partial_metadata(&obj),
            _ => obj,
        };
        let mut stream = match store_stream {
            Ok(s) => s,
            Err(e) => {
                let status = ApiError::from_store(e, Default::default()).to_status();
                send(json!({"type": "ERROR", "object": status})).await;
                return;
            }
        };
        for obj in initial {
            if !send(json!({"type": "ADDED", "object": render(obj)})).await {
                return;
            }
        }
        let mut last_rv: Revision = from;
        if initial_end_marker {
            let bm = bookmark(&ctx, last_rv, true);
            if !send(json!({"type": "BOOKMARK", "object": bm})).await {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    if !send(json!({"type": "BOOKMARK", "object": bookmark(&ctx, last_rv, false)})).await { return; }
                }
                next = stream.next() => {
                    // The events already waiting go out together (one chunk, one TLS record,
                    // one write) rather than one by one: a busy watch costs both ends less.
                    let mut batch = Vec::new();
                    let mut next = next;
                    let end = loop {
                        let ev = match next {
                            None => break Some(None),
                            Some(Err(e)) => break Some(Some(e)),
                            Some(Ok(ev)) => ev,
                        };
                        last_rv = ev.revision;
                        if let Some(kind) = event_kind(&ev, filter.is_empty(), |kv| ctx.api.encoded.selects(&filter, kv)) {
                            if matches!(out, Output::Json | Output::Yaml) {
                                // The common case: every watcher sends the same bytes, encoded once.
                                if let Some(obj) = ctx.api.encoded.get(&ctx.res, &ev.kv) {
                                    frame(&mut batch, kind, &obj);
                                }
                            } else if let Ok(obj) = ctx.api.objects.decode(&ctx.res, &ev.kv) {
                                let obj = serde_json::to_vec(&render(obj)).expect("a serde_json::Value always serialises");
                                frame(&mut batch, kind, &obj);
                            }
                        }
                        if batch.len() >= BATCH_BYTES {
                            break None;
                        }
                        match stream.next().now_or_never() {
                            Some(n) => next = n,
                            None => break None,
                        }
                    };
                    if !batch.is_empty() && tx.send(Bytes::from(batch)).await.is_err() {
                        return;
                    }
                    match end {
                        None => {}
                        Some(None) => return,
                        Some(Some(e)) => {
                            let status = match e {
                                StoreError::WatcherTooSlow => ApiError::Gone("the watch fell behind; please re-list".into()).to_status(),
                                e => ApiError::from_store(e, Default::default()).to_status(),
                            };
                            send(json!({"type": "ERROR", "object": status})).await;
                            return;
                        }
                    }
                }
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::io::Error>));
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    Ok(resp)
}

/// Appends one newline-delimited watch event around an already encoded object.
fn frame(out: &mut Vec<u8>, kind: &str, object: &[u8]) {
    out.reserve(object.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
}

/// What watchers work out about an event, shared by all of them: with a thousand watchers on
/// a resource, an event is encoded once, and each stored value is judged once per distinct
/// selector, not once per watcher and again as the next event's previous value. Keyed by the
/// value's revision (unique store-wide) and the API version or selector text.
#[derive(Default)]
pub struct EncodedEvents {
    encoded: Memo<String, Bytes>,
    verdicts: Memo<Arc<str>, bool>,
    /// Stored objects decoded for selectors, by what the selectors read: the scheduler's
    /// `spec.nodeName=` and `spec.nodeName!=` watches share one decoding of each pod.
    partials: Memo<Arc<str>, Option<Arc<Value>>>,
}

/// Entries kept before a memo starts over (events are only read right after they happen).
const MEMO_MAX: usize = 8192;

struct Memo<K, V>(Mutex<HashMap<(Revision, K), V>>);

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<K: Eq + std::hash::Hash, V: Clone> Memo<K, V> {
    /// The value for `key`, computed outside the lock when missing (two watchers may both
    /// compute it; the results are equal).
    fn get_or(&self, key: (Revision, K), compute: impl FnOnce() -> Option<V>) -> Option<V> {
        if let Some(v) = self.0.lock().expect("watch memo lock poisoned").get(&key) {
            return Some(v.clone());
        }
        let v = compute()?;
        let mut map = self.0.lock().expect("watch memo lock poisoned");
        if map.len() >= MEMO_MAX {
            map.clear();
        }
        map.insert(key, v.clone());
        Some(v)
    }
}

impl EncodedEvents {
    fn get(&self, res: &crate::registry::Resource, kv: &canopy_store::KeyValue) -> Option<Bytes> {
        let api_version = res.api_version();
        self.encoded.get_or((kv.mod_revision, api_version.clone()), || crate::wire::encode(&api_version, kv).ok())
    }

    /// Whether `filter` selects the stored value `kv`.
    fn selects(&self, filter: &Filter, kv: &canopy_store::KeyValue) -> bool {
        if filter.is_empty() {
            return true;
        }
        self.verdicts
            .get_or((kv.mod_revision, filter.key().clone()), || {
                let (reads, key) = filter.reads();
                let partial = self
                    .partials
                    .get_or((kv.mod_revision, key.clone()), || Some(reads.decode(&kv.value).ok().map(Arc::new)));
                Some(filter.matches_partial(partial.flatten().as_deref()))
            })
            .unwrap_or(true)
    }
}

fn bookmark(ctx: &Ctx, rv: Revision, initial_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": ctx.res.kind, "apiVersion": ctx.res.api_version(), "metadata": metadata})
}

/// A store event as a watch event seen through the client's selectors: an object that starts
/// matching is ADDED, one that stops matching is DELETED. The selectors read only the fields
/// they need, so events a watcher does not want are never decoded whole.
fn event_kind(ev: &Event, unfiltered: bool, selects: impl Fn(&canopy_store::KeyValue) -> bool) -> Option<&'static str> {
    if unfiltered {
        return Some(match (ev.kind, &ev.prev) {
            (EventKind::Delete, _) => "DELETED",
            (EventKind::Put, Some(_)) => "MODIFIED",
            (EventKind::Put, None) => "ADDED",
        });
    }
    let was = ev.prev.as_ref().is_some_and(&selects);
    match ev.kind {
        EventKind::Delete => was.then_some("DELETED"),
        EventKind::Put => match (was, selects(&ev.kv)) {
            (false, true) => Some("ADDED"),
            (true, true) => Some("MODIFIED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
    }
}
