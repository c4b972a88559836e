//! Content digests (`sha256:<hex>`), the identity of every manifest, config and layer.

use std::fmt;
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

/// A validated `sha256:<64 lowercase hex>` digest.
///
/// Only sha256 is accepted: it is the only algorithm registries use in practice, and refusing
/// the rest keeps every digest we store verifiable by this crate.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

/// Why a digest string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The algorithm prefix is not `sha256:`.
    #[error("unsupported digest algorithm in {0:?} (only sha256 is supported)")]
    Algorithm(String),
    /// The encoded part is not 64 lowercase hex characters.
    #[error("invalid sha256 digest {0:?}: expected 64 lowercase hex characters")]
    Encoding(String),
}

impl Digest {
    /// Parses `sha256:<hex>`.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let Some((algorithm, hex)) = s.split_once(':') else {
            return Err(DigestError::Algorithm(s.to_owned()));
        };
        if algorithm != "sha256" {
            return Err(DigestError::Algorithm(s.to_owned()));
        }
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::Encoding(s.to_owned()));
        }
        Ok(Self { hex: hex.to_owned() })
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(bytes))
    }

    pub(crate) fn from_hasher(hasher: Sha256) -> Self {
        Self { hex: to_hex(&hasher.finalize()) }
    }

    /// The hex-encoded hash without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// A relative path `sha256/<hex>`, the layout OCI image layouts use for blobs; it avoids the
    /// `:` that would break overlayfs `lowerdir=` lists built from cache paths.
    pub fn relative_path(&self) -> PathBuf {
        PathBuf::from("sha256").join(&self.hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// A reader that hashes and counts everything read through it; used to check a layer's
/// uncompressed digest (`diff_id`) while it is being extracted.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self { inner, hasher: Sha256::new(), len: 0 }
    }

    pub(crate) fn finish(self) -> (Digest, u64) {
        (Digest::from_hasher(self.hasher), self.len)
    }
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_hashes() {
        let d = Digest::of(b"");
        assert_eq!(d.to_string(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(Digest::parse(&d.to_string()), Ok(d));
        assert!(matches!(Digest::parse("sha512:abc"), Err(DigestError::Algorithm(_))));
        assert!(matches!(Digest::parse("sha256:ABC"), Err(DigestError::Encoding(_))));
        assert!(matches!(Digest::parse("nocolon"), Err(DigestError::Algorithm(_))));
    }
}
