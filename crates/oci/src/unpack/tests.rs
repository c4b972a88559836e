use std::io::Write as _;

use proptest::prelude::*;
use tar::{EntryType, Header};

use super::*;

/// One raw tar entry; names are written byte for byte so tests can build hostile archives that
/// `tar::Builder` itself would refuse to write.
#[derive(Debug, Clone)]
struct E {
    kind: EntryType,
    path: String,
    link: Option<String>,
    data: Vec<u8>,
}

fn file(path: &str, data: &str) -> E {
    E { kind: EntryType::Regular, path: path.into(), link: None, data: data.as_bytes().to_vec() }
}
fn dir(path: &str) -> E {
    E { kind: EntryType::Directory, path: path.into(), link: None, data: vec![] }
}
fn symlink(path: &str, to: &str) -> E {
    E { kind: EntryType::Symlink, path: path.into(), link: Some(to.into()), data: vec![] }
}
fn hardlink(path: &str, to: &str) -> E {
    E { kind: EntryType::Link, path: path.into(), link: Some(to.into()), data: vec![] }
}
fn device(path: &str) -> E {
    E { kind: EntryType::Char, path: path.into(), link: None, data: vec![] }
}

fn tar_bytes(entries: &[E]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = Header::new_gnu();
        h.set_entry_type(e.kind);
        h.set_size(e.data.len() as u64);
        h.set_mode(if e.kind == EntryType::Directory { 0o755 } else { 0o644 });
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let old = h.as_old_mut();
        let n = e.path.len().min(99);
        old.name = [0; 100];
        old.name[..n].copy_from_slice(&e.path.as_bytes()[..n]);
        if let Some(link) = &e.link {
            let n = link.len().min(99);
            old.linkname = [0; 100];
            old.linkname[..n].copy_from_slice(&link.as_bytes()[..n]);
        }
        h.set_cksum();
        builder.append(&h, e.data.as_slice()).expect("append to Vec");
    }
    builder.into_inner().expect("finish tar")
}

struct Fixture {
    outer: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let outer = tempfile::tempdir().expect("tempdir");
        let root = outer.path().join("root");
        fs::create_dir(&root).expect("root");
        fs::write(outer.path().join("sentinel"), "keep").expect("sentinel");
        Self { outer, root }
    }

    fn unpack(&self, layers: &[Vec<E>]) -> Result<(), UnpackError> {
        let mut unpacker = Unpacker::new(&self.root)?;
        for layer in layers {
            let bytes = tar_bytes(layer);
            unpacker.apply_layer(bytes.as_slice(), Compression::None, &Digest::of(&bytes))?;
        }
        Ok(unpacker.finish()?)
    }

    /// Nothing was written next to the root.
    fn assert_contained(&self) {
        let mut names: Vec<_> =
            fs::read_dir(self.outer.path()).expect("read outer").map(|e| e.expect("entry").file_name()).collect();
        names.sort();
        assert_eq!(names, ["root", "sentinel"]);
        assert_eq!(fs::read_to_string(self.outer.path().join("sentinel")).expect("read"), "keep");
    }

    fn read(&self, p: &str) -> Option<String> {
        fs::read_to_string(self.root.join(p)).ok()
    }
}

#[test]
fn files_links_and_whiteouts_across_layers() {
    let f = Fixture::new();
    f.unpack(&[
        vec![
            dir("./bin/"),
            file("./bin/busybox", "bb"),
            symlink("bin/sh", "busybox"),
            hardlink("bin/ls", "bin/busybox"),
            file("etc/deleteme", "x"),
            file("etc/keep", "k"),
            file("opt/old/a", "a"),
            file("/abs/ok", "leading slash is stripped"),
        ],
        vec![
            file("etc/.wh.deleteme", ""),
            file("missing/dir/.wh.x", ""),
            file("etc/keep/.wh..wh..opq", ""),
            file("opt/new", "n"),
            file("opt/.wh..wh..opq", ""),
            file("opt/later", "l"),
        ],
    ])
    .expect("unpack");
    assert_eq!(f.read("bin/busybox").as_deref(), Some("bb"));
    assert_eq!(f.read("bin/sh").as_deref(), Some("bb"));
    assert_eq!(f.read("bin/ls").as_deref(), Some("bb"));
    assert_eq!(f.read("abs/ok").as_deref(), Some("leading slash is stripped"));
    assert!(f.read("etc/deleteme").is_none(), "whiteout removes the lower file");
    assert!(!f.root.join("etc/.wh.deleteme").exists(), "whiteouts are not materialised");
    assert_eq!(f.read("etc/keep").as_deref(), Some("k"));
    assert!(!f.root.join("opt/old").exists(), "opaque dir hides lower contents");
    assert_eq!(f.read("opt/new").as_deref(), Some("n"), "same-layer entries survive opaque");
    assert_eq!(f.read("opt/later").as_deref(), Some("l"));
    f.assert_contained();
}

#[test]
fn refuses_traversal_and_contains_symlink_escapes() {
    for path in ["../evil", "a/../../evil", "./../evil"] {
        let f = Fixture::new();
        let err = f.unpack(&[vec![file(path, "x")]]).expect_err(path);
        assert!(matches!(err, UnpackError::Invalid(ref m) if m.contains("escapes")), "{err}");
        f.assert_contained();
    }
    let f = Fixture::new();
    let outer = f.outer.path().display().to_string();
    f.unpack(&[
        vec![symlink("abs", &outer), symlink("up", "../../../.."), symlink("root", "/")],
        vec![file("abs/pwned", "1"), file("up/pwned2", "2"), file("root/etc/pwned3", "3")],
    ])
    .expect("symlinks resolve inside the root");
    assert_eq!(f.read(&format!("{}/pwned", outer.trim_start_matches('/'))).as_deref(), Some("1"));
    assert_eq!(f.read("pwned2").as_deref(), Some("2"));
    assert_eq!(f.read("etc/pwned3").as_deref(), Some("3"));
    // A hard link cannot reach outside either: `up/sentinel` is the root's (absent) sentinel.
    let err = f.unpack(&[vec![hardlink("stolen", "up/sentinel")]]).expect_err("no target");
    assert!(matches!(err, UnpackError::Invalid(_)), "{err}");
    f.assert_contained();
}

#[test]
fn skips_devices_and_checks_diff_id() {
    let f = Fixture::new();
    f.unpack(&[vec![device("dev/null"), file("dev/ok", "")]]).expect("unpack");
    assert!(!f.root.join("dev/null").exists());
    assert!(f.root.join("dev/ok").exists());

    let bytes = tar_bytes(&[file("a", "a")]);
    let mut unpacker = Unpacker::new(&f.root).expect("unpacker");
    let err =
        unpacker.apply_layer(bytes.as_slice(), Compression::None, &Digest::of(b"other")).expect_err("diff_id mismatch");
    assert!(err.to_string().contains("does not match diff_id"), "{err}");

    // The same tar gzip-compressed: diff_id is over the uncompressed stream.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).expect("gzip");
    let gz = gz.finish().expect("gzip");
    unpacker.apply_layer(gz.as_slice(), Compression::Gzip, &Digest::of(&bytes)).expect("gzip");
    let err = unpacker.apply_layer(&gz[..gz.len() / 2], Compression::Gzip, &Digest::of(&bytes)).expect_err("truncated");
    assert!(matches!(err, UnpackError::Invalid(_)), "{err}");
}

fn arb_path() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("".to_owned()),
        Just(".wh.a".to_owned()),
        Just(".wh..wh..opq".to_owned()),
        Just(".wh.".to_owned()),
        Just(".wh...".to_owned()),
        "[a-c.]{1,3}",
    ];
    (any::<bool>(), prop::collection::vec(part, 1..4))
        .prop_map(|(abs, parts)| format!("{}{}", if abs { "/" } else { "" }, parts.join("/")))
}

fn arb_entry() -> impl Strategy<Value = E> {
    let link = prop_oneof![arb_path(), Just("/".to_owned()), Just("../../../../..".to_owned())];
    (0..6u8, arb_path(), link, "[a-z]{0,8}").prop_map(|(k, path, link, data)| {
        let kind = [
            EntryType::Regular,
            EntryType::Directory,
            EntryType::Symlink,
            EntryType::Link,
            EntryType::Char,
            EntryType::Fifo,
        ][usize::from(k)];
        let data = if kind == EntryType::Regular { data.into_bytes() } else { vec![] };
        let link = matches!(kind, EntryType::Symlink | EntryType::Link).then_some(link);
        E { kind, path, link, data }
    })
}

/// Recursively checks that the root holds only plain files, directories and symlinks.
fn assert_only_plain(path: &Path) {
    for entry in fs::read_dir(path).expect("read_dir") {
        let entry = entry.expect("entry");
        let t = entry.file_type().expect("file type");
        assert!(t.is_file() || t.is_dir() || t.is_symlink(), "{:?}", entry.path());
        assert!(!entry.file_name().to_string_lossy().starts_with(".wh."), "{:?}", entry.path());
        if t.is_dir() {
            assert_only_plain(&entry.path());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Fuzz-style: arbitrary hostile layers either apply or fail cleanly, and never write
    /// outside the root, create devices or leave whiteout markers behind.
    #[test]
    fn hostile_layers_stay_inside_the_root(
        layers in prop::collection::vec(prop::collection::vec(arb_entry(), 0..12), 1..4)
    ) {
        let f = Fixture::new();
        let _ = f.unpack(&layers);
        f.assert_contained();
        assert_only_plain(&f.root);
    }

    /// Arbitrary bytes as a layer never panic the extractor.
    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048), gz in any::<bool>()) {
        let f = Fixture::new();
        let mut unpacker = Unpacker::new(&f.root).expect("unpacker");
        let compression = if gz { Compression::Gzip } else { Compression::None };
        let _ = unpacker.apply_layer(bytes.as_slice(), compression, &Digest::of(&bytes));
        f.assert_contained();
    }
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_layers() {
    let f = Fixture::new();
    let bytes = tar_bytes(&[file("z", "zstd")]);
    let compressed = ruzstd::encoding::compress_to_vec(bytes.as_slice(), ruzstd::encoding::CompressionLevel::Fastest);
    let mut unpacker = Unpacker::new(&f.root).expect("unpacker");
    unpacker.apply_layer(compressed.as_slice(), Compression::Zstd, &Digest::of(&bytes)).expect("zstd layer");
    assert_eq!(f.read("z").as_deref(), Some("zstd"));
}
