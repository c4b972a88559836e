//! The one error type of a pull, shaped like the kubelet's image pull failures.

/// Why a pull failed. Each variant maps to what the kubelet reports: `NotPresent` is
/// `ErrImageNeverPull`, the others are `ErrImagePull`; the `Display` text is meant for the
/// container status message and names the image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullError {
    /// The registry does not know the repository, tag or digest, or has no manifest for this
    /// platform.
    #[error("failed to pull image {image:?}: not found: {reason}")]
    NotFound {
        /// The image as requested.
        image: String,
        /// What was missing.
        reason: String,
    },
    /// The registry refused the credentials (or their absence).
    #[error("failed to pull image {image:?}: unauthorized: {reason}")]
    Unauthorized {
        /// The image as requested.
        image: String,
        /// The registry's answer.
        reason: String,
    },
    /// The registry could not be reached or failed (connection, TLS, timeout, HTTP 5xx/429).
    #[error("failed to pull image {image:?}: {reason}")]
    Network {
        /// The image as requested.
        image: String,
        /// What failed.
        reason: String,
    },
    /// The registry served something that is not a valid image: a digest or size mismatch, a
    /// malformed manifest or config, an unsupported media type, a hostile layer.
    #[error("failed to pull image {image:?}: invalid image: {reason}")]
    Invalid {
        /// The image as requested.
        image: String,
        /// What was wrong.
        reason: String,
    },
    /// `PullPolicy::Never` and the image is not in the cache.
    #[error("container image {image:?} is not present with pull policy of Never")]
    NotPresent {
        /// The image as requested.
        image: String,
    },
    /// The local cache could not be read or written (disk full, permissions).
    #[error("failed to pull image {image:?}: image cache: {reason}")]
    Storage {
        /// The image as requested.
        image: String,
        /// What failed.
        reason: String,
    },
}

impl PullError {
    /// The kubelet's reason for this error: `ErrImageNeverPull` or `ErrImagePull`.
    pub fn kubelet_reason(&self) -> &'static str {
        match self {
            Self::NotPresent { .. } => "ErrImageNeverPull",
            _ => "ErrImagePull",
        }
    }
}

/// A failure before the image name is attached; each layer of the pull returns this and
/// [`Failure::for_image`] turns it into the public error once.
#[derive(Debug)]
pub(crate) enum Failure {
    NotFound(String),
    Unauthorized(String),
    Network(String),
    Invalid(String),
    Storage(String),
}

impl Failure {
    pub(crate) fn for_image(self, image: &impl std::fmt::Display) -> PullError {
        let image = image.to_string();
        match self {
            Self::NotFound(reason) => PullError::NotFound { image, reason },
            Self::Unauthorized(reason) => PullError::Unauthorized { image, reason },
            Self::Network(reason) => PullError::Network { image, reason },
            Self::Invalid(reason) => PullError::Invalid { image, reason },
            Self::Storage(reason) => PullError::Storage { image, reason },
        }
    }

    pub(crate) fn storage(context: &str, e: std::io::Error) -> Self {
        Self::Storage(format!("{context}: {e}"))
    }
}

impl From<crate::unpack::UnpackError> for Failure {
    fn from(e: crate::unpack::UnpackError) -> Self {
        match e {
            crate::unpack::UnpackError::Invalid(m) => Self::Invalid(m),
            crate::unpack::UnpackError::Io(e) => Self::storage("unpacking layer", e),
        }
    }
}
