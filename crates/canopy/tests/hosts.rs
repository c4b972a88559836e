//! Two real hosts end to end: `canopy agent --runtime container` processes (each with its own
//! pod network in its own Canopy network namespace) run a busybox image from a real registry;
//! kubectl reads logs (`--tail`, `-f`, `--previous`) and runs commands (`exec`, with stdin,
//! exit codes and a terminal) through the API server; and a Deployment survives the loss of
//! one host (its agent is killed; its replica comes back Running on the other).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;

/// A `canopy agent` process; killed (a host loss) on drop, its leftovers removed after it.
struct Host {
    child: Child,
    _leftovers: canopy_testkit::Leftovers,
}

impl Host {
    fn start(name: &str, n: u32, kubeconfig: &Path, registry: &str, dir: &Path) -> Self {
        let data = dir.join(name);
        std::fs::create_dir_all(&data).expect("data dir");
        // Unique per test process: bridges and their namespaces are machine-wide.
        let bridge = format!("cnp{}{n}", std::process::id() % 100_000);
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_canopy"))
            .args(["agent", "--runtime", "container", "--name", name, "--zone", &format!("zone-{n}")])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--data-dir")
            .arg(&data)
            .args(["--address", "127.0.0.1", "--listen", "127.0.0.1:0", "--insecure-registry", registry])
            .args(["--pod-cidr", &format!("10.{}.{n}.0/24", 90 + n), "--bridge", &bridge])
            .args(["--cpus", "2", "--memory-gib", "2"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("canopy agent starts");
        let leftovers = canopy_testkit::Leftovers { data_dir: data, host_netns: format!("canopy-host-{bridge}") };
        Self { child, _leftovers: leftovers }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Kubectl {
    kubeconfig: PathBuf,
    home: PathBuf,
}

impl Kubectl {
    /// Runs kubectl with `stdin`; (exit code, stdout, stderr).
    fn run(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .env("HOME", &self.home)
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl");
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(stdin.as_bytes()).expect("stdin");
        drop(pipe);
        let out = child.wait_with_output().expect("kubectl");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args, "");
        assert_eq!(code, 0, "kubectl {args:?}: {out}{err}");
        out
    }

    /// kubectl on a terminal (util-linux `script` gives it one). With `typing`, the terminal's
    /// input stays open until the command is done, as a person's would; without, it ends at once.
    fn on_terminal(&self, command: &str, typing: bool) -> String {
        let mut child = Command::new("script")
            .args(["-qec", command, "/dev/null"])
            .env("HOME", &self.home)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(if typing { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("script");
        let _typing = child.stdin.take();
        let out = child.wait_with_output().expect("script");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }
}

fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or_default()
}

fn node_of(p: &Pod) -> &str {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default()
}

async fn running_web(pods: &Api<Pod>) -> Vec<Pod> {
    let list = pods.list(&kube::api::ListParams::default().labels("app=web")).await.expect("list");
    list.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none() && phase(p) == "Running").collect()
}

const WEB: &str = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
      "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100,
        "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}}}]}},
      "terminationGracePeriodSeconds": 2,
      "containers": [{"name": "web", "image": "IMAGE",
        "command": ["sh", "-c", "echo started on $(cat /etc/hostname); i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"],
        "readinessProbe": {"exec": {"command": ["test", "-e", "/etc/hostname"]}, "periodSeconds": 1},
        "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}}}]}}}}"#;

const ONCE: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "once"},
  "spec": {"restartPolicy": "Never", "containers": [{"name": "once", "image": "IMAGE",
    "command": ["sh", "-c", "sleep 2; for i in 1 2 3; do echo line $i; sleep 1; done"]}]}}"#;

const CRASH: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crash"},
  "spec": {"containers": [{"name": "crash", "image": "IMAGE", "command": ["sh", "-c", "echo run at $(cat /proc/uptime); exit 1"]}]}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_container_hosts_run_logs_exec_and_survive_a_host_loss() {
    if canopy_testkit::cannot_run_containers() {
        return;
    }
    let p = common::platform().await;
    let client = p.admin.clone();
    let _replicasets = canopy_controllers::replicaset::start(client.clone(), Default::default());
    let _deployments = canopy_controllers::deployment::start(client.clone());
    let _lifecycle = canopy_controllers::node_lifecycle::start(
        client.clone(),
        canopy_controllers::node_lifecycle::Config { grace: Duration::from_secs(5), ..Default::default() },
    );
    let scheduler = tokio::spawn(canopy_scheduler::driver::run(client.clone()));
    let registry = canopy_testkit::Registry::start(None);
    let image = registry.push_busybox("e2e/busybox", None);
    let dir = p.dir.path().to_path_buf();
    let mut a = Host::start("host-a", 1, &p.server.kubeconfig, &registry.addr, &dir);
    let mut b = Host::start("host-b", 2, &p.server.kubeconfig, &registry.addr, &dir);
    let kubectl = Kubectl { kubeconfig: p.server.kubeconfig.clone(), home: p.home.clone() };
    let k = &kubectl;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    canopy_testkit::wait_for("both hosts to register", Duration::from_secs(30), async || {
        let list = nodes.list(&Default::default()).await.ok()?;
        (list.items.len() == 2).then_some(())
    })
    .await;

    for manifest in [WEB, ONCE, CRASH] {
        let (code, out, err) = k.run(&["apply", "-f", "-"], &manifest.replace("IMAGE", &image));
        assert_eq!(code, 0, "{out}{err}");
    }
    k.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let web = running_web(&pods).await;
    let hosts: std::collections::BTreeSet<&str> = web.iter().map(node_of).collect();
    assert_eq!(hosts.len(), 2, "one replica on each host: {hosts:?}");
    let on_b = web.iter().find(|p| node_of(p) == "host-b").expect("a replica on host-b");
    let name_b = on_b.metadata.name.clone().expect("name");

    // Logs: whole, tail, and a container that writes while it is followed.
    let logs = canopy_testkit::wait_for("web logs", Duration::from_secs(20), async || {
        let out = k.ok(&["logs", &name_b]);
        out.contains("tick 1").then_some(out)
    })
    .await;
    assert!(logs.starts_with(&format!("started on {name_b}\n")), "{logs}");
    let tail = k.ok(&["logs", &name_b, "--tail=1"]);
    assert_eq!(tail.lines().count(), 1, "{tail}");
    assert!(tail.starts_with("tick "), "{tail}");
    canopy_testkit::wait_for("once to run", Duration::from_secs(30), async || {
        (phase(&pods.get("once").await.ok()?) == "Running").then_some(())
    })
    .await;
    let followed = k.ok(&["logs", "-f", "once"]);
    assert_eq!(followed, "line 1\nline 2\nline 3\n", "-f streams until the container exits");
    let (code, _, err) = k.run(&["logs", "once", "--since=1h"], "");
    assert_ne!(code, 0);
    assert!(err.contains("sinceSeconds is not supported"), "{err}");

    // Exec: output, exit codes, stdin, a terminal.
    assert_eq!(k.ok(&["exec", &name_b, "--", "cat", "/etc/hostname"]).trim(), name_b);
    let (code, _, err) = k.run(&["exec", &name_b, "--", "sh", "-c", "echo oops >&2; exit 3"], "");
    assert_eq!(code, 3, "the command's exit code is kubectl's: {err}");
    assert!(err.contains("oops"), "stderr comes back apart: {err}");
    let (code, out, err) = k.run(&["exec", "-i", &name_b, "--", "sh", "-c", "cat; echo done"], "hello\n");
    assert_eq!((code, out.as_str()), (0, "hello\ndone\n"), "{err}");
    let on_a_tty = format!("kubectl exec -it {name_b} -- sh -c '[ -t 0 ] && [ -t 1 ] && echo on-a-tty'");
    let terminal = k.on_terminal(&on_a_tty, true);
    assert!(terminal.contains("on-a-tty"), "{terminal}");
    // Input that ends at once (kubectl closes stdin right away) loses no output.
    for _ in 0..3 {
        let terminal = k.on_terminal(&on_a_tty, false);
        assert!(terminal.contains("on-a-tty"), "with input closed: {terminal}");
    }
    let (code, _, err) = k.run(&["exec", "nosuch", "--", "true"], "");
    assert_ne!(code, 0);
    assert!(err.contains("not found"), "{err}");

    // The previous instance of a restarted container.
    canopy_testkit::wait_for("crash to restart", Duration::from_secs(60), async || {
        let pod = pods.get("crash").await.ok()?;
        let restarts = pod.status?.container_statuses?.first()?.restart_count;
        (restarts >= 1).then_some(())
    })
    .await;
    let previous = k.ok(&["logs", "crash", "--previous"]);
    assert!(previous.starts_with("run at "), "{previous}");

    // Losing host-b: its replica is replaced on host-a.
    b.kill();
    let replaced = canopy_testkit::wait_for("web to run on host-a only", Duration::from_secs(90), async || {
        let web = running_web(&pods).await;
        (web.len() == 2 && web.iter().all(|p| node_of(p) == "host-a")).then_some(web)
    })
    .await;
    let lost = pods.get(&name_b).await.expect("the lost pod is kept");
    assert_eq!(phase(&lost), "Failed");
    let new = replaced.iter().find(|p| p.metadata.name.as_deref() != Some(name_b.as_str())).expect("replacement");
    let new_name = new.metadata.name.clone().expect("name");
    assert!(k.ok(&["exec", &new_name, "--", "cat", "/etc/hostname"]).contains(&new_name));
    let (code, _, err) = k.run(&["logs", &name_b], "");
    assert_ne!(code, 0, "the lost host cannot be reached");
    assert!(err.contains("host-b"), "{err}");

    for name in ["once", "crash"] {
        let _ = pods.delete(name, &Default::default()).await;
    }
    k.ok(&["delete", "deployment", "web"]);
    canopy_testkit::wait_for("host-a's pods to go", Duration::from_secs(60), async || {
        let left = pods.list(&Default::default()).await.ok()?;
        left.items.iter().all(|p| node_of(p) != "host-a").then_some(())
    })
    .await;
    a.kill();
    scheduler.abort();
}
