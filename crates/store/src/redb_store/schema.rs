//! The on-disk layout of `RedbStore` and the two operations on it: load everything at open,
//! and persist one batch of events in one durable transaction.
//!
//! Tables: `kv` maps a key to `(value, create_revision, mod_revision)`; `meta` holds the
//! schema version, the current revision and the compacted revision. History is not persisted:
//! on reopen the stored revision is also the compacted one, and the stored compacted revision
//! is kept for inspection only.

use std::collections::BTreeMap;

use bytes::Bytes;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::{Event, EventKind, KeyValue, Revision};

const KV: TableDefinition<&str, (&[u8], i64, i64)> = TableDefinition::new("kv");
const META: TableDefinition<&str, i64> = TableDefinition::new("meta");

const SCHEMA_VERSION_KEY: &str = "schema_version";
const REVISION_KEY: &str = "revision";
const COMPACTED_KEY: &str = "compacted";
const SCHEMA_VERSION: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SchemaError {
    #[error(transparent)]
    Redb(#[from] redb::Error),
    #[error("unsupported schema version {found} (this build reads version {SCHEMA_VERSION})")]
    Version { found: i64 },
}

fn redb_err(e: impl Into<redb::Error>) -> SchemaError {
    SchemaError::Redb(e.into())
}

/// Everything `RedbStore` keeps in memory, as loaded at open.
pub(crate) struct Loaded {
    pub(crate) kv: BTreeMap<String, KeyValue>,
    pub(crate) revision: Revision,
}

/// Creates the tables if needed, checks the schema version and reads every key.
pub(crate) fn load(db: &Database) -> Result<Loaded, SchemaError> {
    let txn = db.begin_write().map_err(redb_err)?;
    {
        let mut meta = txn.open_table(META).map_err(redb_err)?;
        let found = meta.get(SCHEMA_VERSION_KEY).map_err(redb_err)?.map(|v| v.value());
        match found {
            None => {
                meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION).map_err(redb_err)?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(found) => return Err(SchemaError::Version { found }),
        }
        txn.open_table(KV).map_err(redb_err)?;
    }
    txn.commit().map_err(redb_err)?;

    let txn = db.begin_read().map_err(redb_err)?;
    let meta = txn.open_table(META).map_err(redb_err)?;
    let revision = meta.get(REVISION_KEY).map_err(redb_err)?.map_or(0, |v| v.value());
    let table = txn.open_table(KV).map_err(redb_err)?;
    let mut kv = BTreeMap::new();
    for entry in table.iter().map_err(redb_err)? {
        let (key, value) = entry.map_err(redb_err)?;
        let key = key.value().to_owned();
        let (value, create_revision, mod_revision) = value.value();
        let value = Bytes::copy_from_slice(value);
        kv.insert(key.clone(), KeyValue { key, value, create_revision, mod_revision });
    }
    Ok(Loaded { kv, revision })
}

/// Writes `events` (consecutive revisions) and the new revisions in one transaction, and
/// returns once it is durable on disk.
pub(crate) fn persist(db: &Database, events: &[Event], compacted: Revision) -> Result<(), SchemaError> {
    let Some(last) = events.last() else {
        return Ok(());
    };
    let mut txn = db.begin_write().map_err(redb_err)?;
    txn.set_durability(Durability::Immediate).map_err(redb_err)?;
    {
        let mut table = txn.open_table(KV).map_err(redb_err)?;
        for event in events {
            let kv = &event.kv;
            match event.kind {
                EventKind::Put => {
                    let row = (kv.value.as_ref(), kv.create_revision, kv.mod_revision);
                    table.insert(kv.key.as_str(), row).map_err(redb_err)?;
                }
                EventKind::Delete => {
                    table.remove(kv.key.as_str()).map_err(redb_err)?;
                }
            }
        }
        let mut meta = txn.open_table(META).map_err(redb_err)?;
        meta.insert(REVISION_KEY, last.revision).map_err(redb_err)?;
        meta.insert(COMPACTED_KEY, compacted).map_err(redb_err)?;
    }
    txn.commit().map_err(redb_err)?;
    Ok(())
}
