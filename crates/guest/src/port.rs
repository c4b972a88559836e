//! The guest end of the virtio-serial port as a tokio stream. The port is a character device
//! that supports non-blocking I/O and poll, so it is driven by the reactor like a socket
//! (tokio's `File` would serve reads and writes one at a time on the blocking pool).

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A handle on the port; clones share the one open descriptor (closing it would make the
/// guest kernel drop what the host sends until it is open again).
#[derive(Clone)]
pub struct Port {
    fd: Arc<AsyncFd<OwnedFd>>,
}

impl Port {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)?;
        Self::register(OwnedFd::from(file))
    }
}

/// The device of the port named `name`: `/dev/vportNpM` whose sysfs `name` matches.
pub fn find(name: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir("/sys/class/virtio-ports").ok()?;
    entries.flatten().find_map(|entry| {
        let found = std::fs::read_to_string(entry.path().join("name")).ok()?;
        (found.trim() == name).then(|| Path::new("/dev").join(entry.file_name()))
    })
}

impl AsyncRead for Port {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| rustix::io::read(fd.get_ref(), &mut *unfilled).map_err(io::Error::from)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Port {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|fd| rustix::io::write(fd.get_ref(), data).map_err(io::Error::from)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Port {
    /// Wraps a descriptor that supports poll (a pty master), making it non-blocking.
    pub fn from_fd(fd: OwnedFd) -> io::Result<Self> {
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK)?;
        Self::register(fd)
    }

    fn register(fd: OwnedFd) -> io::Result<Self> {
        // `AsyncFd::new` is deprecated for types that may not own their descriptor (the reactor
        // could then watch a closed or reused one); an `OwnedFd` owns it for as long as the
        // registration lives, and its replacement `register` is `unsafe`, which this workspace
        // forbids.
        #[allow(deprecated)]
        let fd = AsyncFd::new(fd)?;
        Ok(Self { fd: Arc::new(fd) })
    }

    /// The guest's side of the handshake (see `canopy_guest::protocol::HELLO`): says hello
    /// until the host answers, then says it is ready. While no host is connected the port
    /// reads as ended at once and what is written is lost.
    pub async fn handshake(&mut self) -> io::Result<()> {
        use canopy_guest::protocol::{GO, HELLO, READY, contains};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut seen = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            // Lost when nobody listens; that is what the repetition is for.
            let _ = self.write_all(HELLO).await;
            match tokio::time::timeout(std::time::Duration::from_millis(100), self.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                Ok(Ok(n)) => {
                    seen.extend_from_slice(&buf[..n]);
                    if contains(&seen, GO) {
                        return self.write_all(READY).await;
                    }
                    let keep = seen.len().saturating_sub(GO.len());
                    seen.drain(..keep);
                }
                Err(_) => {}
            }
        }
    }
}
