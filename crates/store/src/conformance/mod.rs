//! The conformance suite every `Store` backend must pass.
//!
//! Owns: executable statements of the `Store` contract (writes and preconditions, revisions,
//! range reads and pagination, reads at old revisions, compaction, watch replay and live
//! delivery, concurrency). Does not own: backend-specific behaviour such as durability across
//! restarts (each backend tests that itself).
//!
//! Each case is a public `async fn(store)` that panics on a violation. Run them all with
//! [`run_all`], or generate one `#[tokio::test]` per case with [`conformance_tests!`](crate::conformance_tests):
//!
//! ```no_run
//! canopy_store::conformance_tests!(|| canopy_store::MemoryStore::new());
//! ```
//!
//! Cases assume a fresh, empty store with the default history window, and a multi-threaded
//! tokio runtime (the macro provides one).

mod concurrency;
mod reads;
mod watch;
mod writes;

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

pub use concurrency::{concurrent_cas_increments, concurrent_distinct_keys, watchers_see_every_revision};
pub use reads::{compaction, list_at_old_revision, list_future_revision, list_pagination, list_prefix_isolation};
pub use watch::{delete_event_carries_prev, watch_future_revision, watch_prefix_isolation, watch_replays_then_live};
pub use writes::{
    create_revision_kept, delete_preconditions, get_put_delete, put_mod_revision_cas, put_must_not_exist,
    revisions_strictly_increase, value_size_limit,
};

use crate::{Event, KeyValue, ListOptions, Precondition, Store, WatchStream};

/// Calls `$callback!($args ; case, case, ...)` with every case name: the one list of cases.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    ([$($callback:tt)*] $($args:tt)*) => {
        $($callback)*!($($args)* ;
            get_put_delete, put_must_not_exist, put_mod_revision_cas, delete_preconditions,
            revisions_strictly_increase, create_revision_kept, value_size_limit,
            list_prefix_isolation, list_pagination, list_at_old_revision, list_future_revision,
            compaction, watch_replays_then_live, watch_prefix_isolation, delete_event_carries_prev,
            watch_future_revision, concurrent_cas_increments, concurrent_distinct_keys,
            watchers_see_every_revision
        );
    };
}

/// Generates one `#[tokio::test]` per conformance case, each on a fresh store from `$make`
/// (an expression evaluating to a `Fn() -> impl Store`). The calling crate needs `tokio`.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::__store_conformance_cases!([$crate::__store_conformance_test] $make);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_test {
    ($make:expr ; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let make = $make;
                $crate::conformance::$case(make()).await;
            }
        )*
    };
}

/// Runs every case, each on a fresh store from `make`.
pub async fn run_all<S: Store>(make: impl Fn() -> S) {
    macro_rules! run {
        ($make:expr ; $($case:ident),*) => {
            $(
                tracing::info!(case = stringify!($case), "store conformance");
                $case($make()).await;
            )*
        };
    }
    crate::__store_conformance_cases!([run] make);
}

/// How long a case waits for an expected watch event before failing.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn prefix(prefix: &str) -> ListOptions {
    ListOptions { prefix: prefix.to_owned(), ..ListOptions::default() }
}

async fn put<S: Store>(store: &S, key: &str, value: &str) -> KeyValue {
    store.put(key, b(value), Precondition::None).await.unwrap_or_else(|e| panic!("put {key}: {e}"))
}

async fn delete<S: Store>(store: &S, key: &str) -> KeyValue {
    store.delete(key, Precondition::None).await.unwrap_or_else(|e| panic!("delete {key}: {e}"))
}

async fn keys<S: Store>(store: &S, opts: ListOptions) -> Vec<String> {
    let result = store.list(opts.clone()).await.unwrap_or_else(|e| panic!("list {opts:?}: {e}"));
    result.items.into_iter().map(|kv| kv.key).collect()
}

async fn next_event(stream: &mut WatchStream) -> Event {
    match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(event))) => event,
        Ok(Some(Err(e))) => panic!("watch failed: {e}"),
        Ok(None) => panic!("watch ended"),
        Err(_) => panic!("no watch event within {EVENT_TIMEOUT:?}"),
    }
}

/// Asserts the stream delivers nothing more for a short while.
async fn assert_quiet(stream: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(100), stream.next()).await {
        panic!("unexpected watch item {item:?}");
    }
}
