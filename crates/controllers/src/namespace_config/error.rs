//! Errors of one reconcile of a `NamespaceConfig`: the API call that failed, with its target.
//! Spec problems are not errors here (they are `desired::SpecError`, reported in the status and
//! not retried until the spec changes).

/// A failed step of a reconcile; retried by the controller's error policy.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("{verb} {kind} {target}")]
    Api {
        verb: &'static str,
        kind: String,
        /// `name` or `namespace/name`.
        target: String,
        #[source]
        source: kube::Error,
    },
    #[error("the NamespaceConfig has no name or uid (not read from the API?)")]
    MissingIdentity,
}

impl ReconcileError {
    pub(crate) fn api(verb: &'static str, kind: &str, target: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let (kind, target) = (kind.to_string(), target.into());
        move |source| ReconcileError::Api { verb, kind, target, source }
    }
}
