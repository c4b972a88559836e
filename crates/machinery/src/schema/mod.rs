//! Structural OpenAPI v3 schemas for custom resources, as the apiextensions-apiserver uses
//! them: [`validate`] (kube-openapi's validator plus the Kubernetes extensions:
//! `x-kubernetes-int-or-string`, `x-kubernetes-embedded-resource`,
//! `x-kubernetes-list-type`/`x-kubernetes-list-map-keys`), [`prune`] (unknown-field removal,
//! the basis of `fieldValidation=Strict|Warn|Ignore`) and [`apply_defaults`].
//!
//! Schemas are the raw `openAPIV3Schema` JSON of a CRD version; nothing is compiled ahead of
//! time (regular expressions are cached per thread). Not covered: CEL rules
//! (`x-kubernetes-validations`), `$ref`, and validation ratcheting on update.

mod defaults;
mod format;
mod keywords;
mod listtype;
mod prune;
mod validate;

use serde_json::Value;

use crate::field_error::FieldError;
use crate::merge::check_depth;

/// Nesting accepted for schemas and objects; deeper input is rejected by [`validate`] and left
/// untouched by [`prune`] and [`apply_defaults`] (validate first).
pub const MAX_DEPTH: usize = 256;

fn too_deep(schema: &Value, obj: &Value) -> bool {
    check_depth(schema, MAX_DEPTH).is_err() || check_depth(obj, MAX_DEPTH).is_err()
}

pub use defaults::apply_defaults;
pub use prune::prune;

/// Validates `obj` against `schema` and returns every field error, rendered like upstream
/// (`spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer:
/// "string"`). An empty list means valid.
pub fn validate(schema: &Value, obj: &Value) -> Vec<FieldError> {
    if too_deep(schema, obj) {
        let detail = format!("the object is nested deeper than the maximum of {MAX_DEPTH} levels");
        return vec![FieldError::invalid("<nil>", Value::String(String::new()), detail)];
    }
    let mut errs = Vec::new();
    validate::node(schema, obj, "", &mut errs);
    errs
}

/// The upstream warning/error text for one pruned path (`unknown field "spec.foo"`).
pub fn unknown_field_message(path: &str) -> String {
    format!("unknown field {}", crate::field_error::go_quote(path))
}

#[cfg(test)]
mod tests;
