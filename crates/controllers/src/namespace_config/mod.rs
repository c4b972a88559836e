//! The namespace-configuration controller: the vSphere "Namespace" settings as a cluster-scoped
//! `NamespaceConfig` (`tenancy.canopy.io/v1alpha1`, short name `nsconf`) named after the
//! namespace it configures, realised as the Namespace, a ResourceQuota `canopy-quota`, a
//! LimitRange `canopy-defaults` and RoleBindings `canopy-access-<role>-<user|group>-<subject>`.
//!
//! Owns: the kind, its CRD, and the reconciler. Does not own: quota admission and accounting,
//! garbage collection and namespace termination (the API server does those; the controller
//! relies on them through ownerReferences), nor the REST API shaped like vSphere's.
//!
//! ```yaml
//! apiVersion: tenancy.canopy.io/v1alpha1
//! kind: NamespaceConfig
//! metadata:
//!   name: team-a
//! spec:
//!   description: Team A's workloads
//!   resourceSpec: {cpuLimit: "8", memoryLimit: 16Gi, cpuRequestDefault: 100m, podCount: 50}
//!   storageSpecs: [{policy: vSAN Default Storage Policy, limit: 500Gi}]
//!   accessList: [{subjectType: USER, subject: alice, domain: vsphere.local, role: OWNER}]
//! ```

mod controller;
mod crd;
pub mod desired;
mod drift;
mod error;
mod objects;
mod reconcile;
pub mod schema;
pub mod status;
pub mod types;

use std::future::Future;

pub use crate::running::Running;
use anyhow::Context as _;

pub use crd::{InstallCrdError, install_crd};
pub use error::ReconcileError;
pub use reconcile::RESYNC;
pub use status::{ConfigStatus, Message, NamespaceConfigStatus, Severity, Stats};
pub use types::{
    AccessEntry, AccessRole, NamespaceConfig, NamespaceConfigSpec, ResourceSpec, StorageSpec, SubjectType,
    VmServiceSpec,
};

/// The field manager of every write this controller makes.
pub const FIELD_MANAGER: &str = "canopy-namespace-config";

/// Installs the CRD, then runs the controller until `shutdown` resolves.
pub async fn run_until(
    client: kube::Client,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    install_crd(client.clone()).await.context("installing the NamespaceConfig CRD")?;
    controller::run_until(client, shutdown).await;
    Ok(())
}

/// Installs the CRD, then runs the controller forever.
pub async fn run(client: kube::Client) -> anyhow::Result<()> {
    run_until(client, std::future::pending()).await
}

/// Installs the CRD (so configs can be created as soon as this returns), then runs the
/// controller on a background task until [`Running::shutdown`].
pub async fn start(client: kube::Client) -> anyhow::Result<Running> {
    install_crd(client.clone()).await.context("installing the NamespaceConfig CRD")?;
    Ok(Running::spawn(|stop| controller::run_until(client, crate::running::stopped(stop))))
}
