//! Pod VM figures: create-to-Running latency of VM-isolated pods (sandbox, image, VM boot and
//! container start, one pod at a time so each is a latency, not a share of a queue), the
//! kernel's share of the boot, and each VM's host memory overhead: QEMU's resident memory minus
//! what the guest's RAM has resident (read from `/proc/PID/smaps`), measured with every pod
//! still running. Uses the `microvm` runtime directly with an image from a registry on
//! loopback, like the runtime's own test.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use canopy_agent::runtime::container::ContainerConfig;
use canopy_agent::runtime::microvm::{AccelChoice, MicrovmConfig, MicrovmRuntime, default_kernel};
use canopy_agent::runtime::{Resources, Runtime, Sandbox};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::stats::{Summary, ms};

#[derive(clap::Args)]
pub struct MicrovmOptions {
    /// Pods to start, one after another.
    #[arg(long, default_value_t = 10)]
    pods: usize,
    /// `auto` (KVM when a probe VM boots with it), `kvm` or `tcg`.
    #[arg(long, default_value = "auto")]
    accel: String,
    /// The guest kernel (default: the newest /boot/vmlinuz-*-cloud-amd64).
    #[arg(long)]
    kernel: Option<PathBuf>,
    /// The static guest agent (default: target/guest/canopy-guest, from scripts/build-guest).
    #[arg(long)]
    guest: Option<PathBuf>,
    /// Where the runtime's data goes. Default: $TMPDIR or /tmp.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// QEMU's resident memory that is not the guest's RAM, in KiB: everything resident but the
/// largest anonymous mapping at least as big as the guest's memory.
pub fn overhead_kib(smaps: &str, guest_mib: u64) -> Option<u64> {
    let mut total = 0;
    let mut guest_rss = None::<(u64, u64)>;
    let mut current: Option<(bool, u64)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: address range, perms, offset, device, inode, [path].
            let anonymous = line.split_whitespace().nth(5).is_none();
            current = Some((anonymous, 0));
            continue;
        }
        let value: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        match first {
            "Size:" => {
                if let Some((anon, size)) = current.as_mut() {
                    *size = if *anon { value } else { 0 };
                }
            }
            "Rss:" => {
                total += value;
                if let Some((true, size)) = current
                    && size >= guest_mib * 1024
                    && guest_rss.is_none_or(|(s, _)| size > s)
                {
                    guest_rss = Some((size, value));
                }
            }
            _ => {}
        }
    }
    guest_rss.map(|(_, rss)| total - rss)
}

fn pod(i: usize, image: &str) -> Pod {
    let container = Container {
        name: "app".into(),
        image: Some(image.into()),
        command: Some(vec!["sh".into(), "-c".into(), "echo up; sleep 3600".into()]),
        resources: Some(ResourceRequirements {
            limits: Some([("memory".to_string(), Quantity("64Mi".into()))].into()),
            ..ResourceRequirements::default()
        }),
        ..Container::default()
    };
    let mut pod = Pod::default();
    pod.metadata.name = Some(format!("bench-{i}"));
    pod.metadata.namespace = Some("default".into());
    pod.metadata.uid = Some(format!("bbbbbbbb-0000-0000-{:04}-{:012}", i, std::process::id()));
    pod.spec = Some(PodSpec { containers: vec![container], ..PodSpec::default() });
    pod
}

pub async fn run(opts: MicrovmOptions) -> anyhow::Result<()> {
    let kernel = opts.kernel.clone().or_else(default_kernel).context("no guest kernel (linux-image-cloud-amd64)")?;
    let guest = opts.guest.clone().unwrap_or_else(canopy_testkit::guest_binary);
    let accel = match opts.accel.as_str() {
        "auto" => AccelChoice::Auto,
        "kvm" => AccelChoice::Kvm,
        "tcg" => AccelChoice::Tcg,
        other => anyhow::bail!("unknown accelerator {other:?} (auto, kvm, tcg)"),
    };
    let registry = canopy_testkit::Registry::start(None);
    let image = registry.push_busybox("bench/busybox", None);
    let base = opts.dir.clone().unwrap_or_else(std::env::temp_dir);
    let data = tempfile::tempdir_in(&base).context("creating the data directory")?;
    let host_netns = format!("canopy-host-bench{}", std::process::id());
    let _leftovers = canopy_testkit::Leftovers { data_dir: data.path().to_path_buf(), host_netns: host_netns.clone() };
    let rt = MicrovmRuntime::new(MicrovmConfig {
        base: ContainerConfig {
            data_dir: data.path().to_path_buf(),
            insecure_registries: vec![registry.addr.clone()],
            capacity: Resources { cpu_milli: 64_000, memory_bytes: 64 << 30 },
            max_pods: 250,
            bridge: "canopy0".into(),
            pod_cidr: "10.96.0.0/24".into(),
            host_netns: Some(host_netns),
        },
        kernel: kernel.clone(),
        guest,
        accel,
    })
    .await
    .context("starting the microvm runtime")?;
    println!(
        "microvm: {} pods, one at a time, accelerator {}, kernel {}",
        opts.pods,
        rt.accel().name(),
        kernel.display()
    );

    let (mut to_running, mut to_output, mut boots, mut kernels) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut sandboxes: Vec<Sandbox> = Vec::new();
    for i in 0..opts.pods {
        let pod = pod(i, &image);
        let container = &pod.spec.as_ref().expect("spec").containers[0];
        let started = Instant::now();
        let sandbox = rt.create_sandbox(&pod).await?;
        sandboxes.push(sandbox.clone());
        rt.pull_image(&pod, container, &[]).await?;
        let id = rt.start_container(&sandbox, &pod, container).await?;
        let running = started.elapsed();
        while !rt.log_path(&id).and_then(|p| std::fs::read_to_string(p).ok()).is_some_and(|l| l.contains("up")) {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "pod {i} wrote nothing in 120 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let output = started.elapsed();
        let uid = pod.metadata.uid.as_deref().expect("uid");
        let stats = rt.vm_stats(uid).await.context("the VM is not running")?;
        if i == 0 {
            // The first pod also made the image's disk; reported apart from the others.
            println!("  first pod (makes the image disk too): Running after {}", ms(running));
        } else {
            to_running.push(running);
            to_output.push(output);
        }
        boots.push(stats.boot);
        kernels.push(stats.kernel_boot);
    }
    // With every VM running, each one's own overhead.
    let mut settled = Vec::new();
    for i in 0..sandboxes.len() {
        let uid = pod(i, &image).metadata.uid.expect("uid");
        if let Some(stats) = rt.vm_stats(&uid).await
            && let Some(pid) = stats.pid
        {
            let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
            settled.extend(overhead_kib(&smaps, stats.memory_mib));
        }
    }
    let line = |what: &str, samples: &[Duration]| {
        let s = Summary::of(samples.to_vec());
        println!("  {what}: p50 {} p99 {} (n={})", ms(s.p50), ms(s.p99), samples.len());
    };
    line("create-to-Running", &to_running);
    line("create-to-first output", &to_output);
    line("VM boot (QEMU start to guest agent answering)", &boots);
    line("  of which the kernel (guest uptime when init started)", &kernels);
    let mib = |kib: u64| kib as f64 / 1024.0;
    if let (Some(min), Some(max)) = (settled.iter().min(), settled.iter().max()) {
        let mean = settled.iter().sum::<u64>() as f64 / settled.len() as f64;
        println!(
            "  host memory overhead per pod VM (QEMU RSS minus guest RAM resident), {} running: mean {:.1} MiB, min {:.1}, max {:.1}",
            settled.len(),
            mean / 1024.0,
            mib(*min),
            mib(*max)
        );
    }
    println!("  goals on KVM hosts: create-to-Running p50 < 300 ms, overhead < 20 MiB");
    for sandbox in &sandboxes {
        let _ = rt.remove_sandbox(sandbox).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_leaves_out_the_guest_ram_mapping() {
        let smaps = "\
55d0-55e0 r-xp 00000000 08:01 123 /usr/bin/qemu-system-x86_64
Size:               4096 kB
Rss:                3000 kB
7f00-7f10 rw-p 00000000 00:00 0
Size:             360448 kB
Rss:               90000 kB
7f20-7f30 rw-p 00000000 00:00 0
Size:              32768 kB
Rss:               12000 kB
";
        assert_eq!(overhead_kib(smaps, 352), Some(15000));
        assert_eq!(overhead_kib(smaps, 1024), None, "no mapping as big as the guest");
    }
}
