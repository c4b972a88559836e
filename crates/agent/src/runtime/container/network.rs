//! Pod networking with iproute2: a network namespace per pod (`canopy-<uid>`), a veth pair
//! between it and the Canopy-owned host namespace, where a bridge with the gateway address
//! joins all pods of the host. Addresses come from the pod CIDR and are recorded in
//! `ipam.json` under a file lock, so two agents (or a restarted one) never hand one out twice.
//!
//! The veth pair is created inside the host namespace with its peer placed straight into the
//! pod's, so the root namespace never sees an interface, route or address of Canopy's.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::runtime::{RuntimeError, RuntimeResult};

const NETNS_PREFIX: &str = "canopy-";

pub(super) fn netns_name(uid: &str) -> String {
    format!("{NETNS_PREFIX}{uid}")
}

/// The pod uid of a sandbox ID (the pod's namespace name).
pub(super) fn uid_of(sandbox_id: &str) -> Option<&str> {
    sandbox_id.strip_prefix(NETNS_PREFIX).filter(|uid| !uid.is_empty() && !uid.contains('/'))
}

pub(crate) fn netns_path(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

/// The host end of a pod's veth pair: `vc` and the first 13 hex digits of the uid (interface
/// names have at most 15 bytes).
fn veth_name(uid: &str) -> String {
    link_name("vc", uid)
}

/// `prefix` and the first 13 hex digits of the uid.
fn link_name(prefix: &str, uid: &str) -> String {
    let hex: String = uid.chars().filter(char::is_ascii_alphanumeric).take(13).collect();
    format!("{prefix}{hex}")
}

/// The tap device of a pod VM.
pub(crate) fn tap_name(uid: &str) -> String {
    link_name("tp", uid)
}

/// An IPv4 network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cidr {
    base: u32,
    prefix: u8,
}

impl Cidr {
    pub(super) fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = s.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        // A gateway, at least one pod, network and broadcast addresses.
        if !(8..=30).contains(&prefix) {
            return None;
        }
        let mask = u32::MAX << (32 - prefix);
        Some(Self { base: u32::from(addr) & mask, prefix })
    }

    fn gateway(self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }

    /// Pod addresses: everything but the network, gateway and broadcast addresses.
    fn hosts(self) -> impl Iterator<Item = Ipv4Addr> {
        let size = 1u32 << (32 - self.prefix);
        (self.base + 2..self.base + size - 1).map(Ipv4Addr::from)
    }
}

pub(crate) struct Network {
    cidr: Cidr,
    bridge: String,
    host_netns: String,
    ipam: PathBuf,
    lock: PathBuf,
    /// Serializes the check-then-create of the host namespace and bridge: pod workers create
    /// sandboxes concurrently, and the second `ip netns add` of one name would fail.
    setup: tokio::sync::Mutex<()>,
}

impl Network {
    /// The Canopy-owned namespace holding the bridge.
    pub(crate) fn host_netns(&self) -> &str {
        &self.host_netns
    }

    pub(crate) fn new(data_dir: &Path, cidr: &str, bridge: &str, host_netns: String) -> RuntimeResult<Self> {
        let cidr = Cidr::parse(cidr).ok_or_else(|| RuntimeError::Other(format!("invalid pod CIDR {cidr:?}")))?;
        std::fs::create_dir_all(data_dir)
            .map_err(|e| RuntimeError::Other(format!("creating {}: {e}", data_dir.display())))?;
        Ok(Self {
            cidr,
            bridge: bridge.into(),
            host_netns,
            ipam: data_dir.join("ipam.json"),
            lock: data_dir.join("ipam.lock"),
            setup: tokio::sync::Mutex::new(()),
        })
    }

    /// Creates (or re-creates, keeping its address) the pod's namespace and returns its IP.
    pub(super) async fn create(&self, uid: &str) -> RuntimeResult<Ipv4Addr> {
        let netns = netns_name(uid);
        let addr = self.allocate(&netns)?;
        self.ensure_bridge().await?;
        // A leftover namespace of an earlier attempt goes first, so this is idempotent.
        if netns_path(&netns).exists() {
            self.delete_netns(uid).await;
        }
        let veth = veth_name(uid);
        let prefix = self.cidr.prefix;
        let gateway = self.cidr.gateway().to_string();
        let host = self.host_netns.as_str();
        let steps: [&[&str]; 7] = [
            &["netns", "add", &netns],
            &["-n", host, "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &netns],
            &["-n", host, "link", "set", &veth, "master", &self.bridge, "up"],
            &["-n", &netns, "link", "set", "lo", "up"],
            &["-n", &netns, "addr", "add", &format!("{addr}/{prefix}"), "dev", "eth0"],
            &["-n", &netns, "link", "set", "eth0", "up"],
            &["-n", &netns, "route", "add", "default", "via", &gateway],
        ];
        for step in steps {
            if let Err(e) = ip(step).await {
                self.delete_netns(uid).await;
                let _ = self.release(&netns);
                return Err(RuntimeError::Sandbox(e));
            }
        }
        Ok(addr)
    }

    /// A tap device on the bridge for a pod VM (the VM is the pod's network stack) and the
    /// pod's address, which the guest puts on the VM's NIC.
    pub(crate) async fn create_tap(&self, uid: &str) -> RuntimeResult<Ipv4Addr> {
        let owner = netns_name(uid);
        let addr = self.allocate(&owner)?;
        self.ensure_bridge().await?;
        let tap = tap_name(uid);
        let host = self.host_netns.as_str();
        let _ = ip(&["-n", host, "link", "del", &tap]).await;
        let steps: [&[&str]; 2] = [
            &["-n", host, "tuntap", "add", "dev", &tap, "mode", "tap"],
            &["-n", host, "link", "set", &tap, "master", &self.bridge, "up"],
        ];
        for step in steps {
            if let Err(e) = ip(step).await {
                let _ = ip(&["-n", host, "link", "del", &tap]).await;
                let _ = self.release(&owner);
                return Err(RuntimeError::Sandbox(e));
            }
        }
        Ok(addr)
    }

    /// Deletes a pod VM's tap device and gives its address back.
    pub(crate) async fn remove_tap(&self, uid: &str) -> RuntimeResult<()> {
        let _ = ip(&["-n", &self.host_netns, "link", "del", &tap_name(uid)]).await;
        self.release(&netns_name(uid))
    }

    /// The pods' gateway (the bridge) and prefix length.
    pub(crate) fn gateway(&self) -> (Ipv4Addr, u8) {
        (self.cidr.gateway(), self.cidr.prefix)
    }

    /// Deletes the namespace and veth pair and gives the address back.
    pub(super) async fn remove(&self, uid: &str) -> RuntimeResult<()> {
        self.delete_netns(uid).await;
        if netns_path(&netns_name(uid)).exists() {
            return Err(RuntimeError::Other(format!("network namespace {} still exists", netns_name(uid))));
        }
        self.release(&netns_name(uid))
    }

    async fn delete_netns(&self, uid: &str) {
        // Deleting the host end takes the peer with it, whichever namespace still exists.
        let _ = ip(&["-n", &self.host_netns, "link", "del", &veth_name(uid)]).await;
        let _ = ip(&["netns", "del", &netns_name(uid)]).await;
    }

    /// The host namespace with the bridge and gateway address, created when missing.
    async fn ensure_bridge(&self) -> RuntimeResult<()> {
        let _setup = self.setup.lock().await;
        let host = self.host_netns.as_str();
        if !netns_path(host).exists() {
            ip(&["netns", "add", host]).await.map_err(RuntimeError::Sandbox)?;
            ip(&["-n", host, "link", "set", "lo", "up"]).await.map_err(RuntimeError::Sandbox)?;
        }
        if ip(&["-n", host, "link", "show", &self.bridge]).await.is_err() {
            let gateway = format!("{}/{}", self.cidr.gateway(), self.cidr.prefix);
            let steps: [&[&str]; 3] = [
                &["-n", host, "link", "add", &self.bridge, "type", "bridge"],
                &["-n", host, "addr", "add", &gateway, "dev", &self.bridge],
                &["-n", host, "link", "set", &self.bridge, "up"],
            ];
            for step in steps {
                ip(step).await.map_err(RuntimeError::Sandbox)?;
            }
        }
        Ok(())
    }

    fn allocate(&self, owner: &str) -> RuntimeResult<Ipv4Addr> {
        self.with_ipam(|table| {
            if let Some((ip, _)) = table.iter().find(|(_, o)| o.as_str() == owner) {
                return Ok(*ip);
            }
            let ip = self
                .cidr
                .hosts()
                .find(|ip| !table.contains_key(ip))
                .ok_or_else(|| RuntimeError::Sandbox(format!("no free address left in {}", self.cidr_string())))?;
            table.insert(ip, owner.to_string());
            Ok(ip)
        })
    }

    fn release(&self, owner: &str) -> RuntimeResult<()> {
        self.with_ipam(|table| {
            table.retain(|_, o| o != owner);
            Ok(())
        })
    }

    fn cidr_string(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.cidr.base), self.cidr.prefix)
    }

    /// Runs `f` on the allocation table under an exclusive lock and saves what it leaves.
    fn with_ipam<T>(&self, f: impl FnOnce(&mut BTreeMap<Ipv4Addr, String>) -> RuntimeResult<T>) -> RuntimeResult<T> {
        let io = |what: &str, e: std::io::Error| RuntimeError::Sandbox(format!("{what} {}: {e}", self.ipam.display()));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(|e| io("locking", e))?;
        lock.lock().map_err(|e| io("locking", e))?;
        let mut table: BTreeMap<Ipv4Addr, String> = match std::fs::read(&self.ipam) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| RuntimeError::Sandbox(format!("reading {}: {e}", self.ipam.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io("reading", e)),
        };
        let out = f(&mut table)?;
        let json = serde_json::to_vec_pretty(&table).expect("a map of strings serializes");
        // Written aside and renamed so a crash never leaves half a table.
        let tmp = self.ipam.with_extension("json.tmp");
        std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, &self.ipam)).map_err(|e| io("writing", e))?;
        drop::<File>(lock);
        Ok(out)
    }
}

/// Runs `ip ARGS`, returning its stderr as the error.
async fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("running ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_hosts_skip_network_gateway_and_broadcast() {
        let cidr = Cidr::parse("10.88.0.7/24").expect("valid");
        assert_eq!(cidr.gateway(), Ipv4Addr::new(10, 88, 0, 1));
        let hosts: Vec<_> = cidr.hosts().collect();
        assert_eq!(hosts.first(), Some(&Ipv4Addr::new(10, 88, 0, 2)));
        assert_eq!(hosts.last(), Some(&Ipv4Addr::new(10, 88, 0, 254)));
        assert_eq!(hosts.len(), 253);
        assert!(Cidr::parse("10.0.0.0/31").is_none());
        assert!(Cidr::parse("nonsense").is_none());
    }

    #[test]
    fn allocation_is_stable_per_owner_and_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let net = Network::new(dir.path(), "10.1.2.0/29", "br", "h".into()).expect("network");
        let a = net.allocate("a").expect("a");
        let b = net.allocate("b").expect("b");
        assert_ne!(a, b);
        assert_eq!(net.allocate("a").expect("again"), a);
        for owner in ["c", "d", "e"] {
            net.allocate(owner).expect("room");
        }
        assert!(net.allocate("f").is_err(), "a /29 has five pod addresses");
        net.release("a").expect("release");
        assert_eq!(net.allocate("f").expect("freed"), a);
        assert_eq!(veth_name("0123abcd-4567-89ef"), "vc0123abcd45678");
    }
}
