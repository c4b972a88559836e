//! Runs the conformance suite against both embedded backends.

mod common;

mod memory {
    canopy_store::conformance_tests!(canopy_store::MemoryStore::new);
}

mod redb {
    canopy_store::conformance_tests!(super::common::TempRedb::new);
}

/// `run_all` drives the same cases in one test (what an out-of-tree backend would call).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_run_all() {
    canopy_store::conformance::run_all(canopy_store::MemoryStore::new).await;
}
