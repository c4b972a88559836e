//! End to end against real components: Debian's `docker-registry`, an image built offline with
//! `umoci` from `busybox-static`, pushed with `skopeo`, pulled with `Puller`.
//!
//! Needs the Debian packages docker-registry, umoci, skopeo and busybox-static; without them
//! every test says so on stderr and returns.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use canopy_oci::{Credentials, ImageRef, PullError, PullPolicy, Puller, PullerConfig};
use canopy_testkit::{HTPASSWD, Registry, run};

/// What these tests ask of the shared registry beyond starting it.
trait Oci {
    fn push(&self, repo: &str, creds: Option<&str>) -> String;
    fn image(&self, repo_tag: &str) -> ImageRef;
    fn puller(&self, cache: &Path) -> Puller;
}

impl Oci for Registry {
    /// Pushes the test image as `<repo>:1` and returns the digest skopeo reports.
    fn push(&self, repo: &str, creds: Option<&str>) -> String {
        let dest = format!("docker://{}/{repo}:1", self.addr);
        let mut copy = Command::new("skopeo");
        copy.args(["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"]);
        if let Some(c) = creds {
            copy.args(["--dest-creds", c]);
        }
        run(copy.arg(format!("oci:{}:1", image_layout().display())).arg(&dest));
        let mut inspect = Command::new("skopeo");
        inspect.args(["--insecure-policy", "inspect", "--tls-verify=false"]);
        if let Some(c) = creds {
            inspect.args(["--creds", c]);
        }
        let json: serde_json::Value = serde_json::from_str(&run(inspect.arg(&dest))).expect("skopeo inspect JSON");
        json["Digest"].as_str().expect("Digest").to_owned()
    }

    fn image(&self, repo_tag: &str) -> ImageRef {
        ImageRef::parse(&format!("{}/{repo_tag}", self.addr)).expect("reference")
    }

    fn puller(&self, cache: &Path) -> Puller {
        let mut config = PullerConfig::new(cache);
        config.insecure_registries = vec![self.addr.clone()];
        Puller::new(config).expect("puller")
    }
}

/// Builds the OCI layout once: layer 1 has busybox, `bin/sh` and `etc/deleteme`; layer 2
/// deletes `etc/deleteme` (a whiteout) and adds `etc/hello`.
fn image_layout() -> &'static Path {
    static LAYOUT: OnceLock<PathBuf> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let layout = dir.join("layout");
        let bundle = dir.join("bundle");
        let image = format!("{}:1", layout.display());
        run(Command::new("umoci").args(["init", "--layout"]).arg(&layout));
        run(Command::new("umoci").args(["new", "--image", &image]));
        run(Command::new("umoci").args(["unpack", "--rootless", "--image", &image]).arg(&bundle));
        let rootfs = bundle.join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).expect("bin");
        std::fs::create_dir_all(rootfs.join("etc")).expect("etc");
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
        std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).expect("symlink");
        std::fs::write(rootfs.join("etc/deleteme"), "lower").expect("write");
        run(Command::new("umoci").args(["repack", "--image", &image]).arg(&bundle));
        std::fs::remove_file(rootfs.join("etc/deleteme")).expect("remove");
        std::fs::write(rootfs.join("etc/hello"), "upper").expect("write");
        run(Command::new("umoci").args(["repack", "--image", &image]).arg(&bundle));
        run(Command::new("umoci").args([
            "config",
            "--image",
            &image,
            "--config.cmd",
            "/bin/sh",
            "--config.cmd",
            "-c",
            "--config.cmd",
            "echo hi",
            "--config.env",
            "GREETING=hi",
            "--config.workingdir",
            "/etc",
        ]));
        layout
    })
}

#[tokio::test]
async fn pulls_verifies_unpacks_and_caches() {
    if canopy_testkit::cannot_run_registry() {
        return;
    }
    let mut registry = Registry::start(None);
    let digest = registry.push("test/busybox", None);
    let cache = tempfile::tempdir().expect("cache");
    let puller = registry.puller(cache.path());
    let image = registry.image("test/busybox:1");

    let pulled = puller.pull(&image, PullPolicy::Always, None).await.expect("pull");
    assert_eq!(pulled.digest.to_string(), digest, "digest is what skopeo reports");
    assert_eq!(pulled.manifest_digest, pulled.digest);
    assert_eq!(pulled.rootfs, cache.path().join("rootfs/sha256").join(pulled.digest.hex()));
    assert_eq!(pulled.config.cmd, ["/bin/sh", "-c", "echo hi"]);
    assert!(pulled.config.env.iter().any(|e| e == "GREETING=hi"), "{:?}", pulled.config.env);
    assert_eq!(pulled.config.working_dir.as_deref(), Some("/etc"));
    let busybox = pulled.rootfs.join("bin/busybox");
    let mode = std::fs::metadata(&busybox).expect("bin/busybox").permissions().mode();
    assert!(mode & 0o111 != 0, "bin/busybox is executable ({mode:o})");
    assert_eq!(run(Command::new(&busybox).args(["echo", "ran"])), "ran\n");
    assert_eq!(std::fs::read_link(pulled.rootfs.join("bin/sh")).expect("bin/sh"), Path::new("busybox"));
    assert!(!pulled.rootfs.join("etc/deleteme").exists(), "whiteout in the upper layer applied");
    assert_eq!(std::fs::read_to_string(pulled.rootfs.join("etc/hello")).expect("etc/hello"), "upper");

    // Concurrent pulls of one digest into a fresh cache unpack once and agree.
    let cache2 = tempfile::tempdir().expect("cache");
    let puller2 = registry.puller(cache2.path());
    let pinned = registry.image(&format!("test/busybox@{digest}"));
    let (a, b, c) = tokio::join!(
        puller2.pull(&image, PullPolicy::Always, None),
        puller2.pull(&image, PullPolicy::IfNotPresent, None),
        puller2.pull(&pinned, PullPolicy::Always, None),
    );
    let (a, b, c) = (a.expect("a"), b.expect("b"), c.expect("c"));
    assert_eq!((&a, &b), (&c, &c));
    assert!(a.rootfs.starts_with(cache2.path()));
    assert!(a.rootfs.join("bin/busybox").is_file());
    assert_eq!(std::fs::read_dir(cache2.path().join("tmp")).expect("tmp").count(), 0, "no temp leftovers");

    // Without the registry: IfNotPresent and Never are served from the cache, by tag or digest.
    registry.stop();
    for policy in [PullPolicy::IfNotPresent, PullPolicy::Never] {
        let again = puller.pull(&image, policy, None).await.expect("cached pull");
        assert_eq!(again, pulled);
        let by_digest = registry.image(&format!("test/busybox@{digest}"));
        assert_eq!(puller.pull(&by_digest, policy, None).await.expect("cached by digest").rootfs, pulled.rootfs);
    }
    let err = puller.pull(&image, PullPolicy::Always, None).await.expect_err("registry is down");
    eprintln!("Network: {err}");
    assert!(matches!(err, PullError::Network { .. }), "{err}");
    let err = puller.pull(&registry.image("test/busybox:2"), PullPolicy::Never, None).await.expect_err("absent");
    eprintln!("NotPresent: {err}");
    assert!(matches!(err, PullError::NotPresent { .. }), "{err}");
    assert_eq!(err.kubelet_reason(), "ErrImageNeverPull");
}

#[tokio::test]
async fn registry_errors_map_to_kubelet_reasons() {
    if canopy_testkit::cannot_run_registry() {
        return;
    }
    let registry = Registry::start(None);
    registry.push("test/busybox", None);
    let cache = tempfile::tempdir().expect("cache");
    let puller = registry.puller(cache.path());

    for missing in ["test/busybox:nope", "test/absent:1"] {
        let err = puller.pull(&registry.image(missing), PullPolicy::IfNotPresent, None).await.expect_err(missing);
        eprintln!("NotFound: {err}");
        assert!(matches!(err, PullError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("UNKNOWN"), "registry error code is quoted: {err}");
    }

    // Not listed as insecure: HTTPS is required and the plain-HTTP registry is never tried.
    let strict = Puller::new(PullerConfig::new(cache.path())).expect("puller");
    let err = strict.pull(&registry.image("test/busybox:1"), PullPolicy::Always, None).await.expect_err("no TLS");
    eprintln!("Network: {err}");
    assert!(matches!(err, PullError::Network { .. }), "{err}");
    assert!(err.to_string().contains("https://"), "{err}");
}

#[tokio::test]
async fn htpasswd_registry_requires_credentials() {
    if canopy_testkit::cannot_run_registry() {
        return;
    }
    let registry = Registry::start(Some(HTPASSWD));
    let digest = registry.push("private/busybox", Some("puller:s3cret"));
    let cache = tempfile::tempdir().expect("cache");
    let puller = registry.puller(cache.path());
    let image = registry.image("private/busybox:1");

    let err = puller.pull(&image, PullPolicy::Always, None).await.expect_err("anonymous");
    eprintln!("Unauthorized: {err}");
    assert!(matches!(err, PullError::Unauthorized { .. }), "{err}");
    let wrong = Credentials::new("puller", "wrong");
    let err = puller.pull(&image, PullPolicy::Always, Some(&wrong)).await.expect_err("bad password");
    eprintln!("Unauthorized: {err}");
    assert!(matches!(err, PullError::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains("wrong"), "no password in messages: {err}");

    let auth = base64::engine::general_purpose::STANDARD.encode("puller:s3cret");
    let secret = format!(r#"{{"auths":{{"http://{}/v2/":{{"auth":"{auth}"}}}}}}"#, registry.addr);
    let creds = Credentials::from_dockerconfigjson(secret.as_bytes(), image.registry())
        .expect("secret")
        .expect("entry for the registry");
    let pulled = puller.pull(&image, PullPolicy::Always, Some(&creds)).await.expect("authenticated pull");
    assert_eq!(pulled.digest.to_string(), digest);
    assert!(pulled.rootfs.join("bin/busybox").is_file());
}
