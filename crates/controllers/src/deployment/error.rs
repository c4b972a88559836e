//! Errors of one Deployment sync: the API call that failed, with its target.

/// A failed step of a sync; retried by the controller's error policy.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{verb} {target}")]
    Api {
        verb: &'static str,
        /// `namespace/name`.
        target: String,
        #[source]
        source: kube::Error,
    },
    #[error("the Deployment's selector is invalid")]
    Selector(#[source] kube::core::ParseExpressionError),
    #[error("the name of the new ReplicaSet {0} is taken; collisionCount raised")]
    HashCollision(String),
    #[error("the Deployment has no name, namespace or uid (not read from the API?)")]
    MissingIdentity,
}

impl SyncError {
    pub(crate) fn api(verb: &'static str, target: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let target = target.into();
        move |source| SyncError::Api { verb, target, source }
    }
}
