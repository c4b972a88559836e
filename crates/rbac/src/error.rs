//! Errors from reading RBAC objects into a [`crate::Policy`].

use crate::go::quote;

/// An RBAC object that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A field has a shape no valid object has (the text names the field).
    #[error("{kind} {} is invalid: {field}: {problem}", quote(.object))]
    Invalid {
        /// `Role`, `ClusterRole`, `RoleBinding` or `ClusterRoleBinding`.
        kind: &'static str,
        /// `namespace/name` or `name`.
        object: String,
        /// The field path.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The object's `kind` is not the one expected where it was passed.
    #[error("expected a {expected}, got kind {}", quote(.found))]
    WrongKind {
        /// The kind the caller passed the object as.
        expected: &'static str,
        /// The object's `kind`.
        found: String,
    },
}
