//! Conformance cases for single-key writes: put, delete, preconditions and revisions.

use bytes::Bytes;

use super::{b, delete, put};
use crate::{Precondition, Store, StoreError};

pub async fn get_put_delete<S: Store>(store: S) {
    assert_eq!(store.get("/k").await, Ok(None));
    let v1 = put(&store, "/k", "v1").await;
    assert_eq!((v1.key.as_str(), v1.value.as_ref()), ("/k", b"v1".as_ref()));
    assert_eq!(v1.create_revision, v1.mod_revision);
    assert_eq!(store.get("/k").await, Ok(Some(v1.clone())));
    assert_eq!(store.current_revision(), v1.mod_revision);

    let v2 = put(&store, "/k", "v2").await;
    assert_eq!(v2.value, b("v2"));
    assert_eq!(v2.create_revision, v1.create_revision);
    assert!(v2.mod_revision > v1.mod_revision);
    assert_eq!(store.get("/k").await, Ok(Some(v2.clone())));

    let deleted = delete(&store, "/k").await;
    assert_eq!(deleted.value, b("v2"), "delete returns the last value");
    assert_eq!(deleted.create_revision, v1.create_revision);
    assert!(deleted.mod_revision > v2.mod_revision, "delete reports its own revision");
    assert_eq!(store.current_revision(), deleted.mod_revision);
    assert_eq!(store.get("/k").await, Ok(None));
    assert_eq!(store.delete("/k", Precondition::None).await, Err(StoreError::NotFound { key: "/k".into() }));
}

pub async fn put_must_not_exist<S: Store>(store: S) {
    let created = store.put("/c", b("1"), Precondition::MustNotExist).await.expect("create");
    let revision = store.current_revision();
    assert_eq!(
        store.put("/c", b("2"), Precondition::MustNotExist).await,
        Err(StoreError::AlreadyExists { key: "/c".into() })
    );
    assert_eq!(store.current_revision(), revision, "a failed write takes no revision");
    assert_eq!(store.get("/c").await, Ok(Some(created.clone())));

    delete(&store, "/c").await;
    let again = store.put("/c", b("3"), Precondition::MustNotExist).await.expect("recreate");
    assert!(again.create_revision > created.create_revision);
}

pub async fn put_mod_revision_cas<S: Store>(store: S) {
    let v1 = put(&store, "/cas", "1").await;
    let v2 = store.put("/cas", b("2"), Precondition::ModRevision(v1.mod_revision)).await.expect("cas");
    let revision = store.current_revision();
    assert_eq!(
        store.put("/cas", b("3"), Precondition::ModRevision(v1.mod_revision)).await,
        Err(StoreError::Conflict { key: "/cas".into(), current: v2.mod_revision }),
        "a stale CAS reports the key's current mod_revision"
    );
    assert_eq!(store.current_revision(), revision);
    assert_eq!(store.get("/cas").await, Ok(Some(v2)));
    assert_eq!(
        store.put("/missing", b("1"), Precondition::ModRevision(v1.mod_revision)).await,
        Err(StoreError::NotFound { key: "/missing".into() })
    );
}

pub async fn delete_preconditions<S: Store>(store: S) {
    let not_found = Err(StoreError::NotFound { key: "/d".into() });
    assert_eq!(store.delete("/d", Precondition::None).await, not_found);
    assert_eq!(store.delete("/d", Precondition::ModRevision(1)).await, not_found);

    let v1 = put(&store, "/d", "1").await;
    let v2 = put(&store, "/d", "2").await;
    assert_eq!(
        store.delete("/d", Precondition::ModRevision(v1.mod_revision)).await,
        Err(StoreError::Conflict { key: "/d".into(), current: v2.mod_revision })
    );
    assert_eq!(
        store.delete("/d", Precondition::MustNotExist).await,
        Err(StoreError::AlreadyExists { key: "/d".into() })
    );
    assert_eq!(store.get("/d").await, Ok(Some(v2.clone())), "failed deletes change nothing");

    let deleted = store.delete("/d", Precondition::ModRevision(v2.mod_revision)).await.expect("delete");
    assert_eq!(deleted.value, b("2"));
    assert_eq!(deleted.mod_revision, store.current_revision());
    assert_eq!(store.get("/d").await, Ok(None));
}

pub async fn revisions_strictly_increase<S: Store>(store: S) {
    let mut last = store.current_revision();
    for i in 0..30 {
        let key = format!("/r/{}", i % 3);
        let revision = if i % 5 == 4 {
            delete(&store, &key).await.mod_revision
        } else {
            put(&store, &key, &i.to_string()).await.mod_revision
        };
        assert!(revision > last, "write {i} got revision {revision} after {last}");
        assert_eq!(store.current_revision(), revision);
        last = revision;
        // Failed writes do not move the revision.
        let _ = store.put(&key, b("x"), Precondition::ModRevision(-1)).await;
        assert_eq!(store.current_revision(), last);
    }
}

pub async fn create_revision_kept<S: Store>(store: S) {
    let created = put(&store, "/cr", "0").await;
    let mut last = created.mod_revision;
    for i in 1..=5 {
        let kv = put(&store, "/cr", &i.to_string()).await;
        assert_eq!(kv.create_revision, created.create_revision);
        assert!(kv.mod_revision > last);
        last = kv.mod_revision;
    }
    delete(&store, "/cr").await;
    let recreated = put(&store, "/cr", "again").await;
    assert_eq!(recreated.create_revision, recreated.mod_revision, "a recreated key starts over");
}

pub async fn value_size_limit<S: Store>(store: S) {
    let big = put(&store, "/big", &"x".repeat(1024 * 1024)).await;
    assert_eq!(store.get("/big").await.expect("get").map(|kv| kv.value.len()), Some(big.value.len()));

    let revision = store.current_revision();
    let huge = Bytes::from(vec![0u8; 8 * 1024 * 1024]);
    match store.put("/huge", huge, Precondition::None).await {
        Err(StoreError::TooLarge { size, .. }) => assert_eq!(size, 8 * 1024 * 1024),
        other => panic!("an 8 MiB value must fail with TooLarge, got {other:?}"),
    }
    assert_eq!(store.current_revision(), revision);
    assert_eq!(store.get("/huge").await, Ok(None));
}
