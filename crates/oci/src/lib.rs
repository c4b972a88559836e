//! Container images for host agents: `canopy-oci` pulls images from OCI/Docker registries,
//! verifies every manifest, config and layer against its digest, and unpacks each platform
//! manifest once into a local cache, handing runtimes a root filesystem directory and the
//! process config (entrypoint, cmd, env, working dir, user).
//!
//! It owns: reference parsing with Docker's defaults ([`ImageRef`]), registry HTTP(S) and auth
//! (Basic and Bearer tokens, credentials from pull secrets via [`Credentials`]), manifest and
//! index resolution to one platform, safe layer extraction with OCI whiteouts, and the on-disk
//! cache with per-digest locking.
//!
//! It does not own: mounting or snapshotting (runtimes mount [`Image::rootfs`] read-only or as
//! an overlay lower dir), garbage collection of unused images, pushing, image signatures, or
//! reading pull secrets from the API (the agent passes the secret's bytes).

#![warn(missing_docs)]

mod auth;
mod cache;
mod digest;
mod error;
mod manifest;
mod puller;
mod reference;
mod registry;
mod unpack;

pub use auth::{Credentials, CredentialsError};
pub use digest::{Digest, DigestError};
pub use error::PullError;
pub use manifest::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
pub use puller::{Image, ImageConfig, Platform, PullPolicy, Puller, PullerConfig};
pub use reference::{ImageRef, ReferenceError};
