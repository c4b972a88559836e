//! Why a Kubernetes protobuf body could not be decoded.

/// A problem in the protobuf wire encoding itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("input ends inside a value")]
    Truncated,
    #[error("varint longer than 64 bits")]
    VarintOverflow,
    #[error("field number 0 or above 2^29-1")]
    BadFieldNumber,
    #[error("unsupported wire type {0}")]
    UnsupportedWireType(u8),
}

/// Decoding a Kubernetes protobuf body failed. Messages name the protobuf message (and field tag)
/// where it happened so that an API server can report them as a 400/415 Status.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body does not start with the Kubernetes protobuf prefix \"k8s\\0\"")]
    MissingMagic,
    #[error("protobuf envelope has no apiVersion or kind")]
    MissingTypeMeta,
    #[error("no protobuf decoding known for {kind} in {api_version}")]
    UnknownKind { api_version: String, kind: String },
    #[error("unsupported content encoding {0:?} in protobuf envelope")]
    UnsupportedContentEncoding(String),
    #[error("unsupported content type {0:?} in protobuf envelope")]
    UnsupportedContentType(String),
    #[error("malformed protobuf in {message}")]
    Wire {
        message: &'static str,
        #[source]
        source: WireError,
    },
    #[error("{message} field {tag} has wire type {found:?}, which does not fit its type")]
    WrongWireType { message: &'static str, tag: u32, found: &'static str },
    #[error("objects nested deeper than {0} levels")]
    TooDeep(usize),
    #[error("invalid embedded JSON in {message}")]
    EmbeddedJson {
        message: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid value in {message}: {problem}")]
    InvalidValue { message: &'static str, problem: &'static str },
}
