//! Facts about the machine the figures come from: CPUs, memory, the disk under the data dir.

use std::path::Path;

pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub memory: String,
    pub disk: String,
    pub kernel: String,
}

impl Machine {
    pub fn probe(data_dir: &Path) -> Self {
        let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, v)| v.trim().to_string()))
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or_else(|| "unknown".into(), |kib| format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0)));
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".into(), |s| s.trim().into());
        Self { nproc, cpu, memory, disk: disk_of(data_dir), kernel }
    }
}

/// "ext4 on /dev/vda (rotational: yes, model ...)" for the mount holding `dir`.
fn disk_of(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    // Fields: id parent major:minor root mount-point options... - fstype source super-options
    let best = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split_whitespace().nth(4)?;
            let mut right = right.split_whitespace();
            let (fstype, source) = (right.next()?, right.next()?);
            dir.starts_with(mount_point).then(|| (mount_point.len(), fstype.to_string(), source.to_string()))
        })
        .max_by_key(|(len, _, _)| *len);
    let Some((_, fstype, source)) = best else { return "unknown".into() };
    let mut text = format!("{fstype} on {source}");
    if let Some(dev) = source.strip_prefix("/dev/") {
        let sys = Path::new("/sys/class/block").join(dev);
        let read = |rel: &str| {
            std::fs::read_to_string(sys.join(rel))
                .or_else(|_| std::fs::read_to_string(sys.join("..").join(rel)))
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        if let Some(rot) = read("queue/rotational") {
            let rot = if rot == "1" { "yes" } else { "no" };
            text.push_str(&format!(" (rotational per the kernel: {rot}"));
            if let Some(model) = read("device/model") {
                text.push_str(&format!(", model {model}"));
            }
            text.push(')');
        }
    }
    text
}

/// The 1-minute load average, as text.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}
