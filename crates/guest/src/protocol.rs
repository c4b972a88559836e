//! What the host agent and the guest agent say to each other: HTTP/2 over the VM's
//! virtio-serial port (the host end is a unix socket only the agent can open), one request per
//! operation, JSON bodies:
//!
//! | request | body | answer |
//! |---|---|---|
//! | `GET /v1/ready` | | [`Ready`], once the guest serves |
//! | `PUT /v1/sandbox` | [`SandboxConfig`] | 204 after the clock, hostname and NIC are set |
//! | `PUT /v1/volumes/{name}` | [`Volume`] | 204 |
//! | `POST /v1/containers` | [`ContainerSpec`] | 201 once started |
//! | `GET /v1/containers/{id}` | | [`ContainerStatus`] |
//! | `POST /v1/containers/{id}/signal` | [`Signal`] | 204 |
//! | `DELETE /v1/containers/{id}` | | 204 |
//! | `GET /v1/containers/{id}/log?offset=N` | | the output from byte N on, following it until the container is removed |
//! | `POST /v1/containers/{id}/exec` | [`Frame`]s: `Start`, then `Stdin`/`StdinClosed`/`Resize` | [`Frame`]s: `Stdout`/`Stderr`, then `Exit` |
//!
//! Errors are a status code with a plain-text reason.

use std::net::Ipv4Addr;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// The name of the virtio-serial port (`virtserialport,name=`), found by the guest under
/// `/sys/class/virtio-ports/*/name`.
pub const PORT_NAME: &str = "io.canopy.guest.0";

/// The handshake that starts every session on the port, before HTTP/2. A virtio-serial port
/// loses what the host sends while the guest does not have it open, and the guest cannot tell
/// a host that reconnected quickly from one that never left. So: the host sends [`RESET`] (which
/// ends any session the guest still had), then waits for the guest's [`HELLO`] (repeated until
/// answered), answers [`GO`], and starts HTTP/2 once it has read [`READY`].
pub const RESET: &[u8] = b"\nCANOPY-RESET\n";
pub const HELLO: &[u8] = b"CANOPY-HELLO\n";
pub const GO: &[u8] = b"CANOPY-GO\n";
pub const READY: &[u8] = b"CANOPY-READY\n";

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The kernel command-line word that makes `canopy-guest` run as a pod VM's init.
pub const INIT_MARKER: &str = "canopy.guest=1";

/// The kernel command-line word asking the guest only to report that it booted (the host's
/// accelerator probe), by printing [`PROBE_OK`] on the console, and to stop.
pub const PROBE_MARKER: &str = "canopy.probe=1";
pub const PROBE_OK: &str = "canopy-guest: probe ok";

/// Where in the initramfs the guest finds the kernel modules to load, one path a line, in order.
pub const MODULE_LIST: &str = "/lib/modules/canopy.list";

/// The guest's answer to `ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    /// The guest's uptime when its init started: the kernel's share of the boot.
    pub kernel_boot_ms: u64,
}

/// The pod-wide settings, sent once the guest is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxConfig {
    /// The host's clock (milliseconds since the Unix epoch): a VM without a clock source of its
    /// own starts in 1970, and container start and finish times must be the host's.
    pub now_unix_ms: u64,
    pub hostname: String,
    /// `/etc/hosts` for every container (the pod's name and address, like the kubelet writes).
    pub hosts_file: String,
    pub network: Option<NetworkConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
}

/// One of the pod's volumes, at `/run/canopy/volumes/<name>` in the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Volume {
    /// An empty directory in guest memory, kept across updates.
    EmptyDir,
    /// Files replacing the volume's contents (configMap, secret, downwardAPI, projected).
    Files(Vec<VolumeFile>),
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeFile {
    /// Relative, `/`-separated, without `..`; checked again by the guest.
    pub path: String,
    /// Base64.
    pub data: String,
    pub mode: u32,
}

impl std::fmt::Debug for VolumeFile {
    // Secret contents stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeFile").field("path", &self.path).field("mode", &self.mode).finish_non_exhaustive()
    }
}

/// A container to start, with everything resolved by the host (command from the image's
/// entrypoint and the pod spec, environment, user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Unique in the VM; names the container in later requests.
    pub id: String,
    /// The serial of the virtio-blk disk holding the container's root filesystem (ext4).
    pub disk: String,
    pub command: Vec<String>,
    /// `NAME=value`.
    pub env: Vec<String>,
    pub working_dir: String,
    pub uid: u32,
    pub gid: u32,
    pub mounts: Vec<Mount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub volume: String,
    /// Absolute path in the container.
    pub path: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContainerStatus {
    Running {
        started_unix_ms: u64,
    },
    Exited {
        exit_code: i32,
        /// `Completed`, `Error`, or `OOMKilled`, like the kubelet's.
        reason: String,
        started_unix_ms: u64,
        finished_unix_ms: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signal {
    #[serde(rename = "TERM")]
    Term,
    #[serde(rename = "KILL")]
    Kill,
}

/// What `exec` runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSpec {
    pub command: Vec<String>,
    pub tty: bool,
    pub stdin: bool,
}

/// The largest frame payload either side accepts.
pub const MAX_FRAME: usize = 1 << 20;

/// One message of an exec stream: `[tag: u8][length: u32, big-endian][payload]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Start(ExecSpec),
    Stdin(Bytes),
    StdinClosed,
    Resize { cols: u16, rows: u16 },
    Stdout(Bytes),
    Stderr(Bytes),
    Exit(i32),
}

#[derive(Debug, PartialEq, Eq)]
pub struct FrameError(pub String);

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FrameError {}

impl Frame {
    pub fn encode(&self) -> Bytes {
        let (tag, payload): (u8, Bytes) = match self {
            Frame::Start(spec) => (0, serde_json::to_vec(spec).expect("an exec spec serializes").into()),
            Frame::Stdin(b) => (1, b.clone()),
            Frame::StdinClosed => (2, Bytes::new()),
            Frame::Resize { cols, rows } => {
                let mut b = BytesMut::with_capacity(4);
                b.put_u16(*cols);
                b.put_u16(*rows);
                (3, b.freeze())
            }
            Frame::Stdout(b) => (4, b.clone()),
            Frame::Stderr(b) => (5, b.clone()),
            Frame::Exit(code) => (6, Bytes::copy_from_slice(&code.to_be_bytes())),
        };
        let mut out = BytesMut::with_capacity(5 + payload.len());
        out.put_u8(tag);
        out.put_u32(u32::try_from(payload.len()).expect("frames are far below 4 GiB"));
        out.put_slice(&payload);
        out.freeze()
    }

    fn decode(tag: u8, payload: Bytes) -> Result<Frame, FrameError> {
        let fixed = |n: usize| {
            if payload.len() == n {
                Ok(())
            } else {
                Err(FrameError(format!("frame {tag} has {} bytes, not {n}", payload.len())))
            }
        };
        Ok(match tag {
            0 => Frame::Start(
                serde_json::from_slice(&payload).map_err(|e| FrameError(format!("invalid exec spec: {e}")))?,
            ),
            1 => Frame::Stdin(payload),
            2 => {
                fixed(0)?;
                Frame::StdinClosed
            }
            3 => {
                fixed(4)?;
                let mut p = payload;
                Frame::Resize { cols: p.get_u16(), rows: p.get_u16() }
            }
            4 => Frame::Stdout(payload),
            5 => Frame::Stderr(payload),
            6 => {
                fixed(4)?;
                Frame::Exit(payload.clone().get_i32())
            }
            other => return Err(FrameError(format!("unknown frame tag {other}"))),
        })
    }
}

/// Splits a byte stream into [`Frame`]s.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
}

impl FrameDecoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `None` until one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let tag = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > MAX_FRAME {
            return Err(FrameError(format!("a frame of {len} bytes is over the limit of {MAX_FRAME}")));
        }
        if self.buf.len() < 5 + len {
            return Ok(None);
        }
        self.buf.advance(5);
        let payload = self.buf.split_to(len).freeze();
        Frame::decode(tag, payload).map(Some)
    }

    /// Whether bytes of an unfinished frame are left (a stream ending here was cut short).
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }
}

/// Checks a volume file's path: relative, no `..`, no empty or `.` components.
pub fn valid_relative_path(path: &str) -> bool {
    !path.is_empty() && !path.starts_with('/') && path.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_frames() -> Vec<Frame> {
        vec![
            Frame::Start(ExecSpec { command: vec!["uname".into(), "-r".into()], tty: true, stdin: false }),
            Frame::Stdin(Bytes::from_static(b"input")),
            Frame::StdinClosed,
            Frame::Resize { cols: 120, rows: 40 },
            Frame::Stdout(Bytes::from_static(b"out")),
            Frame::Stderr(Bytes::new()),
            Frame::Exit(-9),
        ]
    }

    #[test]
    fn frames_survive_any_split_of_the_stream() {
        let frames = all_frames();
        let bytes: Vec<u8> = frames.iter().flat_map(|f| f.encode().to_vec()).collect();
        for chunk in [1, 2, 3, 7, bytes.len()] {
            let mut decoder = FrameDecoder::default();
            let mut got = Vec::new();
            for piece in bytes.chunks(chunk) {
                decoder.push(piece);
                while let Some(frame) = decoder.next_frame().expect("valid") {
                    got.push(frame);
                }
            }
            assert_eq!(got, frames, "chunks of {chunk}");
            assert!(!decoder.has_partial());
        }
    }

    #[test]
    fn bad_frames_are_refused() {
        let mut decoder = FrameDecoder::default();
        decoder.push(&[9, 0, 0, 0, 0]);
        assert!(decoder.next_frame().is_err(), "unknown tag");
        let mut decoder = FrameDecoder::default();
        decoder.push(&[1, 0xff, 0xff, 0xff, 0xff]);
        assert!(decoder.next_frame().is_err(), "over the size limit");
        let mut decoder = FrameDecoder::default();
        decoder.push(&[6, 0, 0, 0, 1, 0]);
        assert!(decoder.next_frame().is_err(), "exit code of one byte");
    }

    #[test]
    fn relative_paths_stay_inside() {
        assert!(valid_relative_path("a/b.txt"));
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a"] {
            assert!(!valid_relative_path(bad), "{bad}");
        }
    }
}
