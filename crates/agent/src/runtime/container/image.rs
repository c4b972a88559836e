//! Images through `canopy-oci`: the container's `imagePullPolicy` (defaulted the Kubernetes
//! way), and the image each container starts from.

use std::path::PathBuf;

use canopy_oci::{Credentials, Image, ImageRef, PullPolicy, Puller, PullerConfig};
use k8s_openapi::api::core::v1::Container;

use crate::runtime::{PullSecret, RuntimeError, RuntimeResult};

pub(crate) struct Images {
    puller: Puller,
}

fn reference(container: &Container) -> RuntimeResult<ImageRef> {
    let image = container.image.as_deref().unwrap_or_default();
    if image.is_empty() {
        return Err(RuntimeError::ImagePull("no image given".into()));
    }
    ImageRef::parse(image).map_err(|e| RuntimeError::ImagePull(format!("invalid image reference {image:?}: {e}")))
}

/// `imagePullPolicy`, or its default: `Always` for `:latest` (and untagged) images,
/// `IfNotPresent` otherwise.
pub(super) fn policy(container: &Container, image: &ImageRef) -> PullPolicy {
    match container.image_pull_policy.as_deref() {
        Some("Always") => PullPolicy::Always,
        Some("Never") => PullPolicy::Never,
        Some("IfNotPresent") => PullPolicy::IfNotPresent,
        _ if image.digest().is_none() && image.tag().is_none_or(|t| t == "latest") => PullPolicy::Always,
        _ => PullPolicy::IfNotPresent,
    }
}

/// The image ID of a container status: `docker-pullable://<registry>/<repository>@<digest>`.
pub(crate) fn image_id(container: &Container, image: &Image) -> String {
    match reference(container) {
        Ok(r) => format!("docker-pullable://{}/{}@{}", r.registry(), r.repository(), image.digest),
        Err(_) => format!("docker-pullable://{}", image.digest),
    }
}

/// The credentials for `registry` in the pull secrets, in order; unreadable secrets are skipped
/// (as the kubelet does) with a warning.
fn credentials(secrets: &[PullSecret], registry: &str) -> Vec<Credentials> {
    secrets
        .iter()
        .filter_map(|s| match Credentials::from_dockerconfigjson(&s.dockerconfigjson, registry) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(secret = %s.name, error = %e, "ignoring an unreadable pull secret");
                None
            }
        })
        .collect()
}

impl Images {
    pub(crate) fn new(cache_dir: PathBuf, insecure_registries: Vec<String>) -> RuntimeResult<Self> {
        let mut config = PullerConfig::new(&cache_dir);
        config.insecure_registries = insecure_registries;
        let puller = Puller::new(config)
            .map_err(|e| RuntimeError::Other(format!("opening the image cache {}: {e}", cache_dir.display())))?;
        Ok(Self { puller })
    }

    /// Pulls the container's image according to its pull policy: with each of the pull
    /// secrets' credentials for the image's registry in turn (like the kubelet's keyring), or
    /// anonymously when none has any.
    pub(crate) async fn pull(&self, container: &Container, secrets: &[PullSecret]) -> RuntimeResult<Image> {
        let image = reference(container)?;
        let policy = policy(container, &image);
        let candidates = credentials(secrets, image.registry());
        if candidates.is_empty() {
            return self.puller.pull(&image, policy, None).await.map_err(|e| RuntimeError::ImagePull(e.to_string()));
        }
        let mut last = None;
        for creds in &candidates {
            match self.puller.pull(&image, policy, Some(creds)).await {
                Ok(pulled) => return Ok(pulled),
                Err(e) => last = Some(e),
            }
        }
        Err(RuntimeError::ImagePull(last.map(|e| e.to_string()).unwrap_or_default()))
    }

    /// The container's image if the cache has it.
    pub(crate) async fn cached(&self, container: &Container) -> Option<Image> {
        let image = reference(container).ok()?;
        self.puller.pull(&image, PullPolicy::Never, None).await.ok()
    }

    /// The image a container starts from: the cached one (the agent pulls before it starts),
    /// or a pull when the cache lost it.
    pub(crate) async fn get(&self, container: &Container) -> RuntimeResult<Image> {
        let image = reference(container)?;
        match self.puller.pull(&image, PullPolicy::Never, None).await {
            Ok(found) => Ok(found),
            Err(_) => self.pull(container, &[]).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(image: &str, policy: Option<&str>) -> Container {
        Container {
            name: "c".into(),
            image: Some(image.into()),
            image_pull_policy: policy.map(Into::into),
            ..Container::default()
        }
    }

    #[test]
    fn pull_policy_defaults_like_kubernetes() {
        let cases = [
            ("busybox", None, PullPolicy::Always),
            ("busybox:latest", None, PullPolicy::Always),
            ("busybox:1.36", None, PullPolicy::IfNotPresent),
            ("busybox:latest", Some("IfNotPresent"), PullPolicy::IfNotPresent),
            ("busybox:1.36", Some("Always"), PullPolicy::Always),
            ("busybox:1.36", Some("Never"), PullPolicy::Never),
        ];
        for (image, given, want) in cases {
            let c = container(image, given);
            let r = reference(&c).expect("reference");
            assert_eq!(policy(&c, &r), want, "{image} {given:?}");
        }
        assert!(reference(&container("", None)).is_err());
    }

    #[test]
    fn credentials_come_from_matching_secrets_in_order() {
        let secret = |name: &str, json: &str| PullSecret { name: name.into(), dockerconfigjson: json.into() };
        let secrets = [
            secret("bad", "not json"),
            secret("other", r#"{"auths":{"other:5000":{"username":"o","password":"p"}}}"#),
            secret("a", r#"{"auths":{"http://r:5000/v2/":{"username":"a","password":"1"}}}"#),
            secret("b", r#"{"auths":{"r:5000":{"username":"b","password":"2"}}}"#),
        ];
        let found = credentials(&secrets, "r:5000");
        assert_eq!(found, [Credentials::new("a", "1"), Credentials::new("b", "2")]);
        assert!(credentials(&secrets, "elsewhere").is_empty());
    }
}
