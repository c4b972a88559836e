//! The tenant's path: an admin adds a user and grants a namespace; the user logs in with
//! `canopy login` (POST /wcp/login) and works with kubectl through the written kubeconfig;
//! logout revokes the token; bad passwords are refused and throttled.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run(bin: &str, args: &[&str], stdin: Option<&str>, home: &Path) -> Run {
    let mut child = Command::new(bin)
        .args(args)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"));
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        pipe.write_all(s.as_bytes()).expect("stdin");
    }
    drop(pipe);
    let out = child.wait_with_output().expect("finishes");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const CANOPY: &str = env!("CARGO_BIN_EXE_canopy");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn users_log_in_and_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = canopy_apiserver::start(canopy_apiserver::ServerConfig {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().expect("addr"),
        extra_sans: vec![],
    })
    .await
    .expect("server");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let admin = server.kubeconfig.to_str().expect("utf-8 path").to_string();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &server.ca_pem).expect("ca");
    let user_kc = dir.path().join("alice.kubeconfig");
    let (url, home2) = (server.url.clone(), home.clone());
    let (admin2, ca2, user_kc2) = (admin.clone(), ca.clone(), user_kc.clone());

    // The CLI and kubectl block; run the whole script off the async workers.
    tokio::task::spawn_blocking(move || {
        let (admin, home, url) = (admin2, home2, url);
        let canopy = |args: &[&str], stdin: Option<&str>| run(CANOPY, args, stdin, &home);
        let kubectl = |args: &[&str]| run("kubectl", args, None, &home);
        let ok = |r: Run, what: &str| {
            assert!(r.ok, "{what} failed:\nstdout: {}\nstderr: {}", r.stdout, r.stderr);
            r.stdout
        };
        ok(
            canopy(
                &["user", "add", "alice", "--group", "devs", "--password-stdin", "--kubeconfig", &admin],
                Some("correct horse battery\n"),
            ),
            "user add",
        );
        let dup =
            canopy(&["user", "add", "alice", "--password-stdin", "--kubeconfig", &admin], Some("another password\n"));
        assert!(!dup.ok && dup.stderr.contains("already exists"), "{}", dup.stderr);
        ok(kubectl(&["--kubeconfig", &admin, "create", "namespace", "team-a"]), "create ns");
        ok(
            kubectl(&[
                "--kubeconfig",
                &admin,
                "-n",
                "team-a",
                "create",
                "rolebinding",
                "devs-edit",
                "--clusterrole=edit",
                "--group=devs@vsphere.local",
            ]),
            "rolebinding",
        );
        // Users are admin objects: their password hashes are not for tenants to read.
        let users = ok(kubectl(&["--kubeconfig", &admin, "get", "users.iam.canopy.io"]), "list users");
        assert!(users.contains("alice@vsphere.local"), "{users}");

        let user_kc = user_kc2.to_str().expect("utf-8 path");
        let ca = ca2.to_str().expect("utf-8 path");
        let bad = canopy(
            &[
                "login",
                "--server",
                &url,
                "--username",
                "alice",
                "--password-stdin",
                "--kubeconfig",
                user_kc,
                "--certificate-authority",
                ca,
            ],
            Some("wrong\n"),
        );
        assert!(!bad.ok && bad.stderr.contains("wrong user name or password"), "{}", bad.stderr);
        let out = ok(
            canopy(
                &[
                    "login",
                    "--server",
                    &url,
                    "--username",
                    "alice",
                    "--password-stdin",
                    "--kubeconfig",
                    user_kc,
                    "--certificate-authority",
                    ca,
                ],
                Some("correct horse battery\n"),
            ),
            "login",
        );
        assert!(out.contains("alice@vsphere.local") && out.contains("team-a"), "{out}");

        // The context per namespace works; other namespaces are forbidden.
        let who = ok(kubectl(&["--kubeconfig", user_kc, "auth", "whoami"]), "whoami");
        assert!(who.contains("alice@vsphere.local") && who.contains("devs@vsphere.local"), "{who}");
        ok(
            kubectl(&["--kubeconfig", user_kc, "--context", "team-a", "create", "configmap", "mine"]),
            "create in team-a",
        );
        let denied = kubectl(&["--kubeconfig", user_kc, "-n", "default", "get", "configmaps"]);
        assert!(!denied.ok && denied.stderr.contains("forbidden"), "{}", denied.stderr);

        ok(canopy(&["logout", "--kubeconfig", user_kc], None), "logout");
        let after = kubectl(&["--kubeconfig", user_kc, "--context", "team-a", "get", "configmaps"]);
        assert!(!after.ok, "a revoked session must not work");

        // Deleting the user ends its sessions at once.
        ok(
            canopy(
                &[
                    "login",
                    "--server",
                    &url,
                    "--username",
                    "alice",
                    "--password-stdin",
                    "--kubeconfig",
                    user_kc,
                    "--certificate-authority",
                    ca,
                ],
                Some("correct horse battery\n"),
            ),
            "login again",
        );
        ok(kubectl(&["--kubeconfig", user_kc, "--context", "team-a", "get", "configmaps"]), "works again");
        ok(canopy(&["user", "del", "alice", "--kubeconfig", &admin], None), "user del");
        assert!(!kubectl(&["--kubeconfig", user_kc, "--context", "team-a", "get", "configmaps"]).ok);

        // Repeated failures are throttled (429 with Retry-After), whatever the password.
        ok(
            canopy(&["user", "add", "bob", "--password-stdin", "--kubeconfig", &admin], Some("bob's password\n")),
            "user add bob",
        );
        let mut refused = false;
        for _ in 0..8 {
            let r = canopy(
                &[
                    "login",
                    "--server",
                    &url,
                    "--username",
                    "bob",
                    "--password-stdin",
                    "--kubeconfig",
                    user_kc,
                    "--certificate-authority",
                    ca,
                ],
                Some("nope\n"),
            );
            assert!(!r.ok);
            if r.stderr.contains("login refused") {
                refused = true;
                break;
            }
        }
        assert!(refused, "failed logins must be throttled");
        let r = canopy(
            &[
                "login",
                "--server",
                &url,
                "--username",
                "bob",
                "--password-stdin",
                "--kubeconfig",
                user_kc,
                "--certificate-authority",
                ca,
            ],
            Some("bob's password\n"),
        );
        assert!(
            !r.ok && r.stderr.contains("login refused"),
            "even the right password waits out the lockout: {}",
            r.stderr
        );
    })
    .await
    .expect("script");
    drop(server);
}
