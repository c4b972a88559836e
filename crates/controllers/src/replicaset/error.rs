//! Errors of one ReplicaSet sync: the API call that failed, with its target.

/// A failed step of a sync; retried by the controller's error policy.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{verb} {target}")]
    Api {
        verb: &'static str,
        /// `namespace/name`, or `namespace/<generateName>` for a pod being created.
        target: String,
        #[source]
        source: kube::Error,
    },
    #[error("the ReplicaSet's selector is invalid")]
    Selector(#[source] kube::core::ParseExpressionError),
    #[error("the ReplicaSet has no name, namespace or uid (not read from the API?)")]
    MissingIdentity,
}

impl SyncError {
    pub(crate) fn api(verb: &'static str, target: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let target = target.into();
        move |source| SyncError::Api { verb, target, source }
    }
}
