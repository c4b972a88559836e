//! Property test: random operation sequences applied to a backend give exactly the results of
//! a simple model (a map per revision), including lists at old revisions, compaction errors,
//! and (for `RedbStore`) the state after a reopen.

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use canopy_store::{
    KeyValue, ListOptions, ListResult, MemoryStore, Precondition, RedbStore, Revision, Store, StoreError,
};
use proptest::prelude::*;

const KEYS: &[&str] = &["/a", "/a/1", "/a/2", "/a/2/x", "/ab/1", "/b/1"];
const PREFIXES: &[&str] = &["", "/a", "/a/", "/ab/", "/b/", "/c/"];

#[derive(Debug, Clone)]
enum Pre {
    None,
    MustNotExist,
    /// `ModRevision` with the key's current mod_revision (or 1 when absent).
    Current,
    /// `ModRevision` off by this much from the current one.
    Stale(i64),
}

#[derive(Debug, Clone)]
enum Op {
    Put {
        key: usize,
        value: u8,
        pre: Pre,
    },
    Delete {
        key: usize,
        pre: Pre,
    },
    /// List `back` revisions ago (clamped at 0), optionally paginated.
    List {
        back: i64,
        prefix: usize,
        start_after: Option<usize>,
        limit: Option<usize>,
    },
    Compact {
        back: i64,
    },
}

fn pre() -> impl Strategy<Value = Pre> {
    prop_oneof![Just(Pre::None), Just(Pre::MustNotExist), Just(Pre::Current), (1i64..3).prop_map(Pre::Stale)]
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    prop_oneof![
        4 => (key.clone(), any::<u8>(), pre()).prop_map(|(key, value, pre)| Op::Put { key, value, pre }),
        2 => (key.clone(), pre()).prop_map(|(key, pre)| Op::Delete { key, pre }),
        3 => (0i64..12, 0..PREFIXES.len(), proptest::option::of(key), proptest::option::of(0usize..4))
            .prop_map(|(back, prefix, start_after, limit)| Op::List { back, prefix, start_after, limit }),
        1 => (0i64..12).prop_map(|back| Op::Compact { back }),
    ]
}

/// The reference: the full key-value map after every revision.
struct Model {
    snapshots: Vec<BTreeMap<String, KeyValue>>,
    compacted: Revision,
}

impl Model {
    fn new(revision: Revision) -> Self {
        Self { snapshots: vec![BTreeMap::new(); revision as usize + 1], compacted: revision }
    }

    fn revision(&self) -> Revision {
        self.snapshots.len() as Revision - 1
    }

    fn current(&self) -> &BTreeMap<String, KeyValue> {
        self.snapshots.last().expect("at least revision 0")
    }

    fn precondition(&self, key: &str, pre: &Pre) -> Precondition {
        let current = self.current().get(key).map_or(1, |kv| kv.mod_revision);
        match pre {
            Pre::None => Precondition::None,
            Pre::MustNotExist => Precondition::MustNotExist,
            Pre::Current => Precondition::ModRevision(current),
            Pre::Stale(by) => Precondition::ModRevision(current - by),
        }
    }

    fn check(&self, key: &str, pre: Precondition, is_put: bool) -> Result<(), StoreError> {
        let key = key.to_owned();
        match (self.current().get(&key), pre) {
            (None, Precondition::None | Precondition::MustNotExist) if is_put => Ok(()),
            (None, _) => Err(StoreError::NotFound { key }),
            (Some(_), Precondition::MustNotExist) => Err(StoreError::AlreadyExists { key }),
            (Some(kv), Precondition::ModRevision(r)) if kv.mod_revision != r => {
                Err(StoreError::Conflict { key, current: kv.mod_revision })
            }
            (Some(_), _) => Ok(()),
        }
    }

    fn put(&mut self, key: &str, value: Bytes, pre: Precondition) -> Result<KeyValue, StoreError> {
        self.check(key, pre, true)?;
        let revision = self.revision() + 1;
        let mut next = self.current().clone();
        let create_revision = next.get(key).map_or(revision, |kv| kv.create_revision);
        let kv = KeyValue { key: key.to_owned(), value, create_revision, mod_revision: revision };
        next.insert(key.to_owned(), kv.clone());
        self.snapshots.push(next);
        Ok(kv)
    }

    fn delete(&mut self, key: &str, pre: Precondition) -> Result<KeyValue, StoreError> {
        self.check(key, pre, false)?;
        let revision = self.revision() + 1;
        let mut next = self.current().clone();
        let old = next.remove(key).expect("checked above");
        self.snapshots.push(next);
        Ok(KeyValue { mod_revision: revision, ..old })
    }

    fn list(&self, opts: &ListOptions) -> Result<ListResult, StoreError> {
        let at = opts.revision.unwrap_or(self.revision());
        if at < self.compacted {
            return Err(StoreError::Compacted { requested: at, compacted: self.compacted });
        }
        let matching: Vec<KeyValue> = self.snapshots[at as usize]
            .values()
            .filter(|kv| kv.key.starts_with(&opts.prefix))
            .filter(|kv| opts.start_after.as_ref().is_none_or(|after| &kv.key > after))
            .cloned()
            .collect();
        let limit = opts.limit.unwrap_or(usize::MAX);
        let more = matching.len() > limit;
        Ok(ListResult { items: matching.into_iter().take(limit).collect(), more, revision: at })
    }
}

async fn run_ops<S: Store>(store: &S, model: &mut Model, ops: &[Op]) {
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Put { key, value, pre } => {
                let (key, value) = (KEYS[*key], Bytes::from(vec![*value; *value as usize % 7 + 1]));
                let pre = model.precondition(key, pre);
                let got = store.put(key, value.clone(), pre).await;
                assert_eq!(got, model.put(key, value, pre), "step {step}: {op:?}");
            }
            Op::Delete { key, pre } => {
                let pre = model.precondition(KEYS[*key], pre);
                assert_eq!(store.delete(KEYS[*key], pre).await, model.delete(KEYS[*key], pre), "step {step}: {op:?}");
            }
            Op::List { back, prefix, start_after, limit } => {
                let opts = ListOptions {
                    prefix: PREFIXES[*prefix].to_owned(),
                    start_after: start_after.map(|k| KEYS[k].to_owned()),
                    limit: *limit,
                    revision: Some((model.revision() - back).max(0)),
                };
                assert_eq!(store.list(opts.clone()).await, model.list(&opts), "step {step}: {op:?}");
            }
            Op::Compact { back } => {
                let revision = (model.revision() - back).max(0);
                store.compact(revision).await.expect("compact at or below the current revision");
                model.compacted = model.compacted.max(revision);
            }
        }
        assert_eq!(store.current_revision(), model.revision(), "step {step}");
        assert_eq!(store.compacted_revision(), model.compacted, "step {step}");
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn memory_store_matches_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        runtime().block_on(async {
            let store = MemoryStore::new();
            run_ops(&store, &mut Model::new(0), &ops).await;
        });
    }

    #[test]
    fn redb_store_matches_the_model_and_survives_reopen(
        ops in proptest::collection::vec(op(), 1..60),
        more in proptest::collection::vec(op(), 0..20),
    ) {
        runtime().block_on(async {
            let temp = common::TempRedb::new();
            let mut model = Model::new(0);
            run_ops(&temp.store, &mut model, &ops).await;
            let path = temp.path();
            let common::TempRedb { store, dir } = temp;
            drop(store);

            // After a reopen: same state and revision, history gone.
            let store = RedbStore::open(&path).expect("reopen");
            let mut model = Model { compacted: model.revision(), ..model };
            assert_eq!(store.list(ListOptions::default()).await, model.list(&ListOptions::default()));
            run_ops(&store, &mut model, &more).await;
            drop((store, dir));
        });
    }
}
