//! Pod volumes and pod files on the host, and the bind mounts that put them into containers.
//!
//! - `pods/<uid>/volumes/<name>/`: one directory per volume. An emptyDir is a plain directory
//!   (`medium: Memory` mounts a tmpfs there, limited to `sizeLimit`); configMap, secret,
//!   downwardAPI and projected volumes are the files the agent resolved, rewritten in place
//!   (each file written aside and renamed) so containers see updates through their mount of
//!   the directory. Such volumes are always mounted read-only, as upstream does.
//! - `pods/<uid>/{hosts,hostname,resolv.conf}`: written once per pod when its sandbox is
//!   created and bind-mounted over `/etc/...` in every container, as the kubelet does (unless
//!   the container mounts a volume there itself).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::core::v1::{Container, Pod, Volume};
use serde_json::{Value, json};

use super::bundle::{is_mountpoint, run};
use crate::runtime::{PodVolume, VolumeFile, VolumeSource};

pub(super) const VOLUMES_DIR: &str = "volumes";
const CLUSTER_DOMAIN: &str = "cluster.local";
/// The pod files and where containers see them.
const POD_FILES: [(&str, &str); 3] =
    [("hosts", "/etc/hosts"), ("hostname", "/etc/hostname"), ("resolv.conf", "/etc/resolv.conf")];

fn volume_dir(pod_dir: &Path, name: &str) -> PathBuf {
    pod_dir.join(VOLUMES_DIR).join(name)
}

/// Volume names are DNS labels and become directory names.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && name != "."
        && name != ".."
}

/// A relative path that stays below its root: no absolute paths, no `..`, nothing empty.
fn relative(path: &str) -> Result<PathBuf, String> {
    let bad = || format!("path {path:?} must be relative and must not contain '..'");
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return Err(bad()),
        }
    }
    if out.as_os_str().is_empty() { Err(bad()) } else { Ok(out) }
}

/// Creates or updates every volume of the pod.
pub(super) fn prepare(pod_dir: &Path, volumes: &[PodVolume]) -> Result<(), String> {
    for v in volumes {
        if !safe_name(&v.name) {
            return Err(format!("volume name {:?} is not usable as a directory name", v.name));
        }
        let dir = volume_dir(pod_dir, &v.name);
        let io = |what: &str, e: std::io::Error| format!("volume {:?}: {what} {}: {e}", v.name, dir.display());
        match &v.source {
            VolumeSource::EmptyDir { memory, size_limit } => {
                std::fs::create_dir_all(&dir).map_err(|e| io("creating", e))?;
                if *memory && !is_mountpoint(&dir) {
                    let mut options = "mode=1777".to_string();
                    if let Some(q) = size_limit {
                        let bytes = super::resources::milli(q)
                            .map(|m| m / 1000)
                            .ok_or_else(|| format!("volume {:?}: invalid sizeLimit {q:?}", v.name))?;
                        options.push_str(&format!(",size={bytes}"));
                    }
                    run(Command::new("mount").args(["-t", "tmpfs", "-o", &options, "tmpfs"]).arg(&dir))?;
                } else {
                    // Upstream's emptyDir is world-writable, so non-root containers can share it.
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                        .map_err(|e| io("setting the mode of", e))?;
                }
            }
            VolumeSource::Files(files) => {
                std::fs::create_dir_all(&dir).map_err(|e| io("creating", e))?;
                write_files(&dir, files).map_err(|e| format!("volume {:?}: {e}", v.name))?;
            }
            VolumeSource::Unsupported(kind) => {
                return Err(format!("volume {:?}: {kind} volumes are not supported by the container runtime", v.name));
            }
        }
    }
    Ok(())
}

/// Writes `files` below `dir` and removes files that are no longer wanted.
fn write_files(dir: &Path, files: &[VolumeFile]) -> Result<(), String> {
    let mut wanted = BTreeSet::new();
    for f in files {
        let rel = relative(&f.path)?;
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        let tmp = path.with_file_name(format!(".{}.tmp", rel.file_name().unwrap_or_default().to_string_lossy()));
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&f.data)?;
            file.set_permissions(std::fs::Permissions::from_mode(f.mode & 0o7777))?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| format!("writing {}: {e}", path.display()))?;
        wanted.insert(path);
    }
    remove_unwanted(dir, &wanted);
    Ok(())
}

/// Removes files below `dir` not in `wanted`, and directories left empty.
fn remove_unwanted(dir: &Path, wanted: &BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                remove_unwanted(&path, wanted);
                let _ = std::fs::remove_dir(&path);
            }
            _ if !wanted.contains(&path) => {
                let _ = std::fs::remove_file(&path);
            }
            _ => {}
        }
    }
}

/// Unmounts the pod's memory-backed volumes, so its directory can be removed.
pub(super) fn unmount_all(pod_dir: &Path) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(pod_dir.join(VOLUMES_DIR)) else { return Ok(()) };
    for entry in entries.flatten() {
        let path = entry.path();
        if is_mountpoint(&path) {
            run(Command::new("umount").arg(&path))?;
        }
    }
    Ok(())
}

/// The pod's hostname: `spec.hostname`, else its name (at most 63 bytes, as upstream).
pub(crate) fn hostname(pod: &Pod) -> String {
    let spec_hostname = pod.spec.as_ref().and_then(|s| s.hostname.clone()).filter(|h| !h.is_empty());
    let mut name = spec_hostname.or_else(|| pod.metadata.name.clone()).unwrap_or_default();
    name.truncate(63);
    name.trim_end_matches(['-', '.']).to_string()
}

/// `/etc/hosts` as the kubelet writes it: loopback names, the pod's address with its name
/// (and its fully qualified name under a subdomain), then the pod's `hostAliases`.
pub(crate) fn hosts(pod: &Pod, ip: &str) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    let host = hostname(pod);
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    match spec.subdomain.as_deref().filter(|s| !s.is_empty()) {
        Some(sub) => {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            out.push_str(&format!("{ip}\t{host}.{sub}.{ns}.svc.{CLUSTER_DOMAIN}\t{host}\n"));
        }
        None => out.push_str(&format!("{ip}\t{host}\n")),
    }
    let aliases = spec.host_aliases.unwrap_or_default();
    if !aliases.is_empty() {
        out.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            out.push_str(&format!("{}\t{}\n", a.ip, a.hostnames.unwrap_or_default().join("\t")));
        }
    }
    out
}

/// `/etc/resolv.conf` per the pod's `dnsPolicy` and `dnsConfig`. The cluster has no DNS service
/// yet, so `ClusterFirst` gives the cluster's search path and `ndots:5` but no nameserver
/// unless `dnsConfig` names one; `Default` (the host's resolver) gives only what `dnsConfig`
/// adds, since pods have no route to the host's resolver.
pub(super) fn resolv_conf(pod: &Pod) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let cluster = matches!(policy, "ClusterFirst" | "ClusterFirstWithHostNet");
    let mut servers: Vec<String> = vec![];
    let mut search: Vec<String> = vec![];
    // Options by name, with their values.
    let mut options: Vec<(String, Option<String>)> = vec![];
    if cluster {
        search = vec![format!("{ns}.svc.{CLUSTER_DOMAIN}"), format!("svc.{CLUSTER_DOMAIN}"), CLUSTER_DOMAIN.into()];
        options.push(("ndots".into(), Some("5".into())));
    }
    if let Some(c) = spec.dns_config {
        servers.extend(c.nameservers.unwrap_or_default());
        for s in c.searches.unwrap_or_default() {
            if !search.contains(&s) {
                search.push(s);
            }
        }
        for o in c.options.unwrap_or_default() {
            let Some(name) = o.name else { continue };
            options.retain(|(n, _)| *n != name);
            options.push((name, o.value));
        }
    }
    let mut out = String::from(
        "# Written by the canopy agent. The cluster has no DNS service yet: no nameserver unless\n\
         # the pod's dnsConfig names one.\n",
    );
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        let opts: Vec<String> = options.into_iter().map(|(n, v)| v.map_or(n.clone(), |v| format!("{n}:{v}"))).collect();
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}

/// Writes `hosts`, `hostname` and `resolv.conf` into the pod's directory.
pub(super) fn write_pod_files(pod_dir: &Path, pod: &Pod, ip: &str) -> Result<(), String> {
    let contents = [hosts(pod, ip), format!("{}\n", hostname(pod)), resolv_conf(pod)];
    for ((file, _), content) in POD_FILES.iter().zip(contents) {
        let path = pod_dir.join(file);
        std::fs::write(&path, content).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Whether upstream mounts this volume type read-only whatever the volumeMount says.
fn always_read_only(v: &Volume) -> bool {
    v.config_map.is_some() || v.secret.is_some() || v.downward_api.is_some() || v.projected.is_some()
}

fn bind(source: &Path, destination: &str, read_only: bool) -> Value {
    json!({
        "destination": destination,
        "type": "bind",
        "source": source,
        "options": ["rbind", "rprivate", if read_only { "ro" } else { "rw" }],
    })
}

/// The OCI mounts of a container: its `volumeMounts` (with `subPath`), then the pod files.
pub(super) fn mounts(pod_dir: &Path, pod: &Pod, container: &Container) -> Result<Vec<Value>, String> {
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_deref()).unwrap_or_default();
    let mut out = Vec::new();
    let volume_mounts = container.volume_mounts.as_deref().unwrap_or_default();
    for vm in volume_mounts {
        let volume = volumes
            .iter()
            .find(|v| v.name == vm.name)
            .ok_or_else(|| format!("volumeMount {:?}: the pod has no such volume", vm.name))?;
        if !safe_name(&vm.name) {
            return Err(format!("volume name {:?} is not usable as a directory name", vm.name));
        }
        if vm.sub_path_expr.as_deref().is_some_and(|e| !e.is_empty()) {
            return Err(format!("volumeMount {:?}: subPathExpr is not supported", vm.name));
        }
        let root = volume_dir(pod_dir, &vm.name);
        let source = match vm.sub_path.as_deref().filter(|s| !s.is_empty()) {
            None => root,
            Some(sub) => sub_path(&root, sub).map_err(|e| format!("volumeMount {:?}: {e}", vm.name))?,
        };
        let read_only = vm.read_only.unwrap_or(false) || always_read_only(volume);
        out.push(bind(&source, &vm.mount_path, read_only));
    }
    for (file, destination) in POD_FILES {
        let own = volume_mounts.iter().any(|vm| vm.mount_path.trim_end_matches('/') == destination);
        if !own {
            out.push(bind(&pod_dir.join(file), destination, false));
        }
    }
    Ok(out)
}

/// `subPath` below a volume's root, created as a directory when missing (as upstream). The
/// resolved path must stay inside the volume: a container could have planted a symlink there
/// pointing anywhere on the host.
fn sub_path(root: &Path, sub: &str) -> Result<PathBuf, String> {
    let path = root.join(relative(sub)?);
    if std::fs::symlink_metadata(&path).is_err() {
        std::fs::create_dir_all(&path).map_err(|e| format!("creating subPath {sub:?}: {e}"))?;
    }
    let real = path.canonicalize().map_err(|e| format!("subPath {sub:?}: {e}"))?;
    let real_root = root.canonicalize().map_err(|e| format!("volume root {}: {e}", root.display()))?;
    if !real.starts_with(&real_root) {
        return Err(format!("subPath {sub:?} resolves outside its volume"));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).expect("pod")
    }

    #[test]
    fn hosts_and_resolv_conf_follow_the_pod() {
        let p = pod(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"containers": [], "hostname": "front", "subdomain": "svc1",
                     "hostAliases": [{"ip": "10.0.0.9", "hostnames": ["db", "db.local"]}]},
        }));
        let h = hosts(&p, "10.88.0.7");
        assert!(h.contains("127.0.0.1\tlocalhost\n"), "{h}");
        assert!(h.contains("10.88.0.7\tfront.svc1.shop.svc.cluster.local\tfront\n"), "{h}");
        assert!(h.contains("10.0.0.9\tdb\tdb.local\n"), "{h}");
        assert_eq!(hostname(&p), "front");
        let r = resolv_conf(&p);
        assert!(r.contains("search shop.svc.cluster.local svc.cluster.local cluster.local\n"), "{r}");
        assert!(r.contains("options ndots:5\n"), "{r}");
        assert!(!r.lines().any(|l| l.starts_with("nameserver")), "{r}");

        let p = pod(json!({
            "metadata": {"name": "x"},
            "spec": {"containers": [], "dnsPolicy": "None",
                     "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["a.b"], "options": [{"name": "ndots", "value": "2"}]}},
        }));
        assert_eq!(hosts(&p, "1.2.3.4").lines().last(), Some("1.2.3.4\tx"));
        let r = resolv_conf(&p);
        assert!(r.contains("nameserver 1.1.1.1\nsearch a.b\noptions ndots:2\n"), "{r}");
    }

    #[test]
    fn files_are_written_updated_and_pruned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = |path: &str, data: &str, mode| VolumeFile { path: path.into(), data: data.into(), mode };
        let v = |files| vec![PodVolume { name: "cfg".into(), source: VolumeSource::Files(files) }];
        prepare(dir.path(), &v(vec![file("a", "1", 0o644), file("sub/b", "2", 0o400)])).expect("prepare");
        let root = dir.path().join("volumes/cfg");
        assert_eq!(std::fs::read_to_string(root.join("sub/b")).expect("b"), "2");
        let mode = std::fs::metadata(root.join("sub/b")).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o400);
        prepare(dir.path(), &v(vec![file("a", "3", 0o644)])).expect("update");
        assert_eq!(std::fs::read_to_string(root.join("a")).expect("a"), "3");
        assert!(!root.join("sub").exists());
        for bad in ["../x", "/etc/passwd", "a/../../b", ""] {
            assert!(prepare(dir.path(), &v(vec![file(bad, "x", 0o644)])).is_err(), "{bad}");
        }
        let unsupported = [PodVolume { name: "h".into(), source: VolumeSource::Unsupported("hostPath".into()) }];
        assert!(prepare(dir.path(), &unsupported).is_err());
    }

    #[test]
    fn mounts_bind_volumes_and_pod_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = pod(json!({
            "metadata": {"name": "x"},
            "spec": {"containers": [], "volumes": [{"name": "cfg", "configMap": {"name": "c"}}, {"name": "scratch", "emptyDir": {}}]},
        }));
        prepare(
            dir.path(),
            &[PodVolume { name: "scratch".into(), source: VolumeSource::EmptyDir { memory: false, size_limit: None } }],
        )
        .expect("prepare");
        let c: Container = serde_json::from_value(json!({"name": "c", "volumeMounts": [
            {"name": "cfg", "mountPath": "/etc/cfg"},
            {"name": "scratch", "mountPath": "/data", "subPath": "logs"},
            {"name": "scratch", "mountPath": "/etc/hosts", "subPath": "hosts"},
        ]}))
        .expect("container");
        let m = mounts(dir.path(), &p, &c).expect("mounts");
        assert_eq!(m[0]["options"][2], "ro", "configMap volumes are read-only");
        assert_eq!(m[1]["options"][2], "rw");
        assert!(m[1]["source"].as_str().is_some_and(|s| s.ends_with("volumes/scratch/logs")));
        let destinations: Vec<&str> = m.iter().filter_map(|m| m["destination"].as_str()).collect();
        assert_eq!(destinations, ["/etc/cfg", "/data", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]);

        std::os::unix::fs::symlink("/", dir.path().join("volumes/scratch/escape")).expect("symlink");
        let c: Container = serde_json::from_value(
            json!({"name": "c", "volumeMounts": [{"name": "scratch", "mountPath": "/x", "subPath": "escape"}]}),
        )
        .expect("container");
        assert!(mounts(dir.path(), &p, &c).is_err_and(|e| e.contains("outside")));
        let c: Container =
            serde_json::from_value(json!({"name": "c", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}))
                .expect("container");
        assert!(mounts(dir.path(), &p, &c).is_err());
    }
}
