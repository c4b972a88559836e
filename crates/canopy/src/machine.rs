//! What a real host offers to pods when no flag says otherwise: every CPU this process may use,
//! and the machine's memory less a reserve for the system and Canopy itself.
//!
//! The reserve is 10% of `MemTotal` or 1 GiB, whichever is larger (a 16 GiB machine offers
//! 14.4 GiB, a 4 GiB machine 3 GiB, a machine of 1 GiB or less nothing). CPUs are not reserved:
//! pods' CPU requests are shares, so the system is slowed, not starved, when they are all used.

use anyhow::Context;
use canopy_agent::runtime::Resources;

const GIB: i64 = 1 << 30;

/// The smallest reserve kept for the system and Canopy.
const MIN_RESERVE: i64 = GIB;

/// The CPUs this process may run on (cgroup quota and CPU affinity included).
pub fn cpus() -> i64 {
    std::thread::available_parallelism().map_or(1, |n| i64::try_from(n.get()).unwrap_or(i64::MAX))
}

/// `MemTotal` of a `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<i64> {
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let mut words = line.split_whitespace();
    let kib: i64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib.checked_mul(1024)?)
}

/// The memory offered to pods out of `total`: `total` less max(10%, 1 GiB), never negative.
pub fn offered_memory(total: i64) -> i64 {
    (total - (total / 10).max(MIN_RESERVE)).max(0)
}

/// What this machine offers to pods by the rule above.
pub fn resources() -> anyhow::Result<Resources> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    let total = mem_total(&meminfo).context("no MemTotal in /proc/meminfo")?;
    Ok(Resources { cpu_milli: cpus() * 1000, memory_bytes: offered_memory(total) })
}

/// `4 CPUs, 14.4 GiB`, for messages.
pub fn describe(r: &Resources) -> String {
    let gib = r.memory_bytes as f64 / GIB as f64;
    let cpus = r.cpu_milli as f64 / 1000.0;
    format!("{cpus} CPUs, {gib:.1} GiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_bytes() {
        let meminfo = "MemTotal:       16318104 kB\nMemFree:         1203412 kB\n";
        assert_eq!(mem_total(meminfo), Some(16_318_104 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: 12 MB\n"), None);
    }

    #[test]
    fn the_reserve_is_a_tenth_or_one_gib_whichever_is_larger() {
        assert_eq!(offered_memory(16 * GIB), 16 * GIB - 16 * GIB / 10);
        assert_eq!(offered_memory(4 * GIB), 3 * GIB);
        assert_eq!(offered_memory(10 * GIB), 9 * GIB);
        assert_eq!(offered_memory(GIB), 0);
        assert_eq!(offered_memory(GIB / 2), 0);
    }

    #[test]
    fn the_machine_offers_something() {
        assert!(cpus() >= 1);
        let r = resources().expect("a Linux machine has /proc/meminfo");
        assert!(r.cpu_milli >= 1000 && r.memory_bytes >= 0, "{}", describe(&r));
    }
}
