//! The `pod-template-hash`: upstream's `ComputeHash` (FNV-1a, 32 bits, over the pod template and
//! the collision count, printed in decimal and mapped onto a vowel-free alphabet with
//! `SafeEncodeString`). Upstream hashes a deep print of the Go struct; this hashes the template's
//! JSON, which is as stable (field order is fixed by the type) but not bit-for-bit upstream's.

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// The label (and selector key) that ties a ReplicaSet's pods to its template.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// Upstream's `rand.SafeEncodeString` alphabet: no vowels (no words) and no look-alikes.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv1a32(hash: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(hash, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// The hash of `template` (ignoring any `pod-template-hash` label it carries already) and of
/// `collision_count`, which the Deployment bumps when a different ReplicaSet already has the name.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let template = without_hash(template);
    let json = serde_json::to_vec(&template).expect("a pod template serializes to JSON");
    let mut h = fnv1a32(0x811c_9dc5, &json);
    if let Some(c) = collision_count {
        // Upstream writes the count as 4 little-endian bytes.
        h = fnv1a32(h, &c.to_le_bytes());
    }
    h.to_string().bytes().map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()])).collect()
}

/// The template without the `pod-template-hash` label.
pub fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    t
}

/// Upstream's `EqualIgnoreHash`: the same template but for the hash label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(image: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]},
        }))
        .expect("template")
    }

    #[test]
    fn the_hash_is_stable_safe_and_sensitive() {
        let a = compute_hash(&template("nginx:1"), None);
        assert_eq!(a, compute_hash(&template("nginx:1"), None));
        assert!(a.bytes().all(|b| ALPHANUMS.contains(&b)), "{a}");
        assert_ne!(a, compute_hash(&template("nginx:2"), None));
        assert_ne!(a, compute_hash(&template("nginx:1"), Some(1)));
        let mut labelled = template("nginx:1");
        labelled
            .metadata
            .as_mut()
            .and_then(|m| m.labels.as_mut())
            .map(|l| l.insert(POD_TEMPLATE_HASH.into(), a.clone()));
        assert_eq!(a, compute_hash(&labelled, None), "the hash label itself is ignored");
        assert!(equal_ignore_hash(&labelled, &template("nginx:1")));
    }
}
