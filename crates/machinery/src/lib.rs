//! Canopy's Kubernetes API machinery: pure, IO-free functions over `serde_json::Value`.
//!
//! Owns: label and field selectors ([`labels`], [`fields`]), the three PATCH formats
//! ([`merge`] for JSON merge patch and JSON patch, [`strategic`] for strategic merge patch),
//! structural-schema validation, pruning and defaulting for custom resources ([`schema`]),
//! and the upstream-compatible rendering of field errors ([`field_error`]).
//!
//! Does not own: storage, HTTP, admission or any knowledge of which resources exist (the API
//! server passes kinds, schemas and field accessors in).
//!
//! ```
//! use canopy_machinery::{FieldSelector, LabelSelector, schema, strategic};
//! use serde_json::json;
//!
//! let pod = json!({"apiVersion": "v1", "kind": "Pod",
//!     "metadata": {"name": "web", "labels": {"app": "web"}},
//!     "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}});
//!
//! let labels = pod["metadata"]["labels"].as_object().expect("labels");
//! assert!(LabelSelector::parse("app in (web,api),!canary").unwrap().matches(labels));
//!
//! let fields = FieldSelector::parse("metadata.name=web").unwrap();
//! assert!(fields.matches(|f| (f == "metadata.name").then(|| "web".to_string())));
//!
//! let meta = strategic::builtin_patch_meta("v1", "Pod").expect("built-in kind");
//! let patch = json!({"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}});
//! let patched = strategic::apply(&pod, &patch, &meta).unwrap();
//! assert_eq!(patched["spec"]["containers"][0]["image"], "nginx:2");
//!
//! let crd_schema = json!({"type": "object", "properties": {
//!     "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}});
//! let mut widget = json!({"spec": {"replicas": "two", "extra": 1}});
//! assert_eq!(schema::prune(&crd_schema, &mut widget), vec!["spec.extra"]);
//! assert_eq!(
//!     schema::validate(&crd_schema, &widget)[0].to_string(),
//!     r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
//! );
//! ```

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
