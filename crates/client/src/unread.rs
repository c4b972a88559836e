//! Writes whose answer the writer does not read. kube-rs's `Api` decodes the object every write
//! returns; a host reporting a pod's status or a component recording an Event never looks at
//! it, and at thousands of writes a second that decoding is a measurable share of their work.
//! These send the same requests and still turn an error answer into [`kube::Error::Api`].

use kube::api::{Patch, PatchParams, PostParams};
use kube::core::Request;
use kube::{Client, Resource};
use serde::Serialize;

/// `POST`s `obj` into namespace `ns` as a `K` (`Api::<K>::create`, answer unread).
pub async fn create<K>(client: &Client, ns: &str, obj: &impl Serialize) -> kube::Result<()>
where
    K: Resource<DynamicType = ()>,
{
    let body = serde_json::to_vec(obj).map_err(kube::Error::SerdeError)?;
    let request = Request::new(K::url_path(&(), Some(ns)))
        .create(&PostParams::default(), body)
        .map_err(kube::Error::BuildRequest)?;
    client.request_text(request).await.map(drop)
}

/// Patches the status subresource of the `K` named `name` in `ns` (`Api::<K>::patch_status`,
/// answer unread).
pub async fn patch_status<K, P>(client: &Client, ns: &str, name: &str, patch: &Patch<P>) -> kube::Result<()>
where
    K: Resource<DynamicType = ()>,
    P: Serialize + std::fmt::Debug,
{
    let request = Request::new(K::url_path(&(), Some(ns)))
        .patch_subresource("status", name, &PatchParams::default(), patch)
        .map_err(kube::Error::BuildRequest)?;
    client.request_text(request).await.map(drop)
}
