//! A Deployment's ReplicaSets during one sync, with the new one (whose template is the
//! Deployment's) marked; scaling replaces a member with what the server answered.

use k8s_openapi::api::apps::v1::ReplicaSet;

/// The ReplicaSets a Deployment controls, and which of them is new.
#[derive(Default)]
pub struct Family {
    pub rss: Vec<ReplicaSet>,
    pub new: Option<usize>,
}

impl Family {
    pub fn new_rs(&self) -> Option<&ReplicaSet> {
        self.new.map(|i| &self.rss[i])
    }

    /// Every member but the new one.
    pub fn old(&self) -> Vec<&ReplicaSet> {
        self.old_indices().into_iter().map(|i| &self.rss[i]).collect()
    }

    pub fn old_indices(&self) -> Vec<usize> {
        (0..self.rss.len()).filter(|i| Some(*i) != self.new).collect()
    }

    pub fn all(&self) -> Vec<&ReplicaSet> {
        self.rss.iter().collect()
    }

    /// The index of the member named `name`.
    pub fn index_of(&self, rs: &ReplicaSet) -> Option<usize> {
        self.rss.iter().position(|r| r.metadata.name == rs.metadata.name)
    }
}
