//! Canopy's Kubernetes API machinery: pure, IO-free functions over `serde_json::Value`.
//!
//! Owns: label and field selectors ([`labels`], [`fields`]), the three PATCH formats
//! ([`merge`] for JSON merge patch and JSON patch, [`strategic`] for strategic merge patch),
//! structural-schema validation, pruning and defaulting for custom resources ([`schema`]),
//! and the upstream-compatible rendering of field errors ([`field_error`]).
//!
//! Does not own: storage, HTTP, admission or any knowledge of which resources exist (the API
//! server passes kinds, schemas and field accessors in).

pub mod field_error;
pub mod fields;
pub mod labels;
pub mod merge;
pub mod schema;
pub mod strategic;
pub mod validation;

pub use field_error::{ErrorType, FieldError};
pub use fields::{FieldSelector, FieldSelectorError};
pub use labels::{LabelSelector, LabelSelectorError, Labels};
