//! Installing the `NamespaceConfig` CRD through the API: server-side apply (creates or updates
//! it, idempotently), then wait until the server reports it `Established`.
//!
//! Owns: the install step only; the document is `schema.rs`.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};

use super::FIELD_MANAGER;
use super::schema;

/// How long the server may take to establish the CRD.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum InstallCrdError {
    #[error("building the CRD document")]
    Document(#[source] serde_json::Error),
    #[error("applying CRD {0}")]
    Apply(String, #[source] kube::Error),
    #[error("waiting for CRD {0} to be established")]
    Wait(String, #[source] kube::runtime::wait::Error),
    #[error("CRD {0} was not established within {ESTABLISH_TIMEOUT:?}")]
    Timeout(String),
}

/// Creates or updates the `NamespaceConfig` CRD and waits until it is served.
pub async fn install_crd(client: kube::Client) -> Result<(), InstallCrdError> {
    let crd = schema::crd().map_err(InstallCrdError::Document)?;
    let name = crd.metadata.name.clone().unwrap_or_default();
    let api: Api<CustomResourceDefinition> = Api::all(client);
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&crd))
        .await
        .map_err(|e| InstallCrdError::Apply(name.clone(), e))?;
    match tokio::time::timeout(ESTABLISH_TIMEOUT, await_condition(api, &name, conditions::is_crd_established())).await {
        Ok(Ok(_)) => {
            tracing::info!(crd = %name, "CRD established");
            Ok(())
        }
        Ok(Err(e)) => Err(InstallCrdError::Wait(name, e)),
        Err(_) => Err(InstallCrdError::Timeout(name)),
    }
}
