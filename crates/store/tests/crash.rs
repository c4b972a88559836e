//! Crash test: a child process writes to a `RedbStore` concurrently and prints every
//! acknowledged write; the parent SIGKILLs it mid-stream, reopens the store, and checks that
//! every acknowledged write is there.
//!
//! The child is this same test binary, re-executed to run `crash_child_writer` with
//! `CHILD_ENV` naming the database file (without it, that test does nothing).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use canopy_store::{ListOptions, Precondition, RedbStore, Revision, Store};

const CHILD_ENV: &str = "CANOPY_STORE_CRASH_CHILD_DB";
const WRITERS: usize = 32;

/// Prints one line and flushes it before the next write is issued.
fn report(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    out.write_fmt(format_args!("{line}\n")).expect("write to stdout");
    out.flush().expect("flush stdout");
}

#[test]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let store = Arc::new(RedbStore::open(&path).expect("open in child"));
        let writers: Vec<_> = (0..WRITERS)
            .map(|task| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        let key = format!("/crash/{task:02}/{i:06}");
                        let value = format!("{task}:{i}:{}", "x".repeat(i % 200));
                        let kv =
                            store.put(&key, Bytes::from(value.clone()), Precondition::MustNotExist).await.expect("put");
                        report(format_args!("PUT {key} {} {value}", kv.mod_revision));
                        if i % 10 == 9 {
                            let victim = format!("/crash/{task:02}/{:06}", i - 5);
                            report(format_args!("DELETING {victim}"));
                            let kv = store.delete(&victim, Precondition::None).await.expect("delete");
                            report(format_args!("DEL {victim} {}", kv.mod_revision));
                        }
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("writer");
        }
    });
}

/// What the child reported, from complete lines only.
#[derive(Default)]
struct Acks {
    puts: BTreeMap<String, (Revision, String)>,
    deleting: BTreeSet<String>,
    deleted: BTreeSet<String>,
    max_revision: Revision,
}

impl Acks {
    fn record(&mut self, line: &str) {
        let fields: Vec<&str> = line.splitn(4, ' ').collect();
        let revision = |field: &str| field.parse::<Revision>().expect("a revision");
        match fields.as_slice() {
            ["PUT", key, rev, value] => {
                self.max_revision = self.max_revision.max(revision(rev));
                let previous = self.puts.insert(key.to_string(), (revision(rev), value.to_string()));
                assert!(previous.is_none(), "{key} acknowledged twice");
            }
            ["DELETING", key] => {
                self.deleting.insert(key.to_string());
            }
            ["DEL", key, rev] => {
                self.max_revision = self.max_revision.max(revision(rev));
                self.deleted.insert(key.to_string());
            }
            _ => {} // libtest's own output
        }
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.redb");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["crash_child_writer", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");

    let (first_ack, first_ack_seen) = mpsc::channel();
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let reader = std::thread::spawn(move || {
        let mut acks = Acks::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            match stdout.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                // A line cut short by the kill was never acknowledged in full.
                Ok(_) if line.last() != Some(&b'\n') => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                    acks.record(&text);
                    if acks.puts.len() == 1 {
                        let _ = first_ack.send(());
                    }
                }
            }
        }
        acks
    });

    first_ack_seen.recv_timeout(Duration::from_secs(30)).expect("the child acknowledged a write");
    std::thread::sleep(Duration::from_secs(1));
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    let acks = reader.join().expect("reader thread");
    assert!(acks.puts.len() > 100, "only {} writes acknowledged before the kill", acks.puts.len());

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = RedbStore::open(&path).expect("reopen after SIGKILL");
        assert!(store.current_revision() >= acks.max_revision, "revision went backwards");
        let stored =
            store.list(ListOptions { prefix: "/crash/".into(), ..ListOptions::default() }).await.expect("list");
        let stored: BTreeMap<_, _> = stored.items.into_iter().map(|kv| (kv.key.clone(), kv)).collect();
        for (key, (revision, value)) in &acks.puts {
            if acks.deleted.contains(key) {
                assert!(!stored.contains_key(key), "acknowledged delete of {key} lost");
                continue;
            }
            match stored.get(key) {
                Some(kv) => {
                    assert_eq!((kv.mod_revision, kv.value.as_ref()), (*revision, value.as_bytes()), "{key}");
                }
                // Deleted by a write that committed but whose acknowledgement was cut off.
                None => assert!(acks.deleting.contains(key), "acknowledged write of {key} lost"),
            }
        }
        println!(
            "{} puts and {} deletes acknowledged before SIGKILL; revision {} on reopen",
            acks.puts.len(),
            acks.deleted.len(),
            store.current_revision()
        );
    });
}
