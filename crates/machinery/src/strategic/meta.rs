//! Patch metadata: which fields merge lists by key, which maps are replaced whole.
//!
//! Upstream reads this from Go struct tags (`patchStrategy`, `patchMergeKey`); Canopy reads it
//! from [`PatchMeta`], keyed by the path of field names from the object root (list items are
//! transparent; keys of free-form maps appear as path segments). [`builtin_patch_meta`] serves
//! the built-in kinds from a table generated from upstream's OpenAPI (`builtin_table.rs`).

use std::collections::HashMap;

use super::builtin_table::{KINDS, TYPES};

/// The strategy of one field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PatchStrategy {
    /// `patchStrategy:"merge"`: lists of objects merge item by item on `merge_key`; lists of
    /// scalars (no key) are unioned. Maps merge recursively (as they do by default).
    Merge {
        /// `patchMergeKey`; `None` for lists of scalars.
        merge_key: Option<String>,
    },
    /// `patchStrategy:"replace"`: the value is replaced wholesale, even when it is a map.
    Replace,
}

impl PatchStrategy {
    /// `Merge` with a key.
    pub fn merge_by(key: &str) -> Self {
        Self::Merge { merge_key: Some(key.to_string()) }
    }

    /// `Merge` of a list of scalars.
    pub fn merge_scalars() -> Self {
        Self::Merge { merge_key: None }
    }
}

/// Where strategic merge looks up field strategies. No strategy (`None`) means: maps merge,
/// lists are replaced.
pub trait PatchMeta {
    /// The strategy of the field at `path` (field names from the object root).
    fn strategy(&self, path: &[&str]) -> Option<PatchStrategy>;
}

impl<F> PatchMeta for F
where
    F: Fn(&[&str]) -> Option<PatchStrategy>,
{
    fn strategy(&self, path: &[&str]) -> Option<PatchStrategy> {
        self(path)
    }
}

/// No field has a strategy: plain recursive merge with list replacement.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPatchMeta;

impl PatchMeta for NoPatchMeta {
    fn strategy(&self, _path: &[&str]) -> Option<PatchStrategy> {
        None
    }
}

/// A hand-written table of dotted paths (`spec.items`, `spec.*.ports` with `*` matching any
/// one segment) to strategies.
#[derive(Clone, Debug, Default)]
pub struct PatchMetaTable {
    entries: HashMap<String, PatchStrategy>,
}

impl PatchMetaTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the strategy of a dotted path.
    pub fn with(mut self, path: &str, strategy: PatchStrategy) -> Self {
        self.entries.insert(path.to_string(), strategy);
        self
    }
}

impl PatchMeta for PatchMetaTable {
    fn strategy(&self, path: &[&str]) -> Option<PatchStrategy> {
        self.entries
            .iter()
            .find(|(pattern, _)| {
                let segs: Vec<&str> = pattern.split('.').collect();
                segs.len() == path.len() && segs.iter().zip(path).all(|(s, p)| *s == "*" || s == p)
            })
            .map(|(_, s)| s.clone())
    }
}

/// Strategy as stored in the generated table.
#[derive(Clone, Copy, Debug)]
pub(super) enum TableStrategy {
    /// No strategy.
    N,
    /// Merge, with an optional key.
    M(Option<&'static str>),
    /// Replace.
    R,
}

/// One field of a generated type.
#[derive(Debug)]
pub(super) struct FieldDef {
    pub(super) name: &'static str,
    pub(super) strategy: TableStrategy,
    pub(super) child: Option<&'static str>,
    /// The field is a map whose values have type `child` (the map key is one path segment).
    pub(super) map_values: bool,
}

/// One generated type: only fields that carry a strategy or lead to one.
#[derive(Debug)]
pub(super) struct TypeDef {
    pub(super) name: &'static str,
    pub(super) fields: &'static [FieldDef],
}

/// Patch metadata of a built-in kind, walking the generated type graph.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinPatchMeta {
    root: &'static str,
}

/// The metadata of a built-in kind (`("v1", "Pod")`, `("apps/v1", "Deployment")`, ...), or
/// `None` for kinds upstream does not serve (custom resources do not support strategic merge
/// patch).
pub fn builtin_patch_meta(api_version: &str, kind: &str) -> Option<BuiltinPatchMeta> {
    KINDS.iter().find(|(v, k, _)| *v == api_version && *k == kind).map(|(_, _, root)| BuiltinPatchMeta { root })
}

/// All built-in `(apiVersion, kind)` pairs [`builtin_patch_meta`] knows.
pub fn builtin_kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    KINDS.iter().map(|(v, k, _)| (*v, *k))
}

fn find_type(name: &str) -> Option<&'static TypeDef> {
    TYPES.binary_search_by(|t| t.name.cmp(name)).ok().map(|i| &TYPES[i])
}

impl PatchMeta for BuiltinPatchMeta {
    fn strategy(&self, path: &[&str]) -> Option<PatchStrategy> {
        let mut ty = find_type(self.root)?;
        let mut i = 0;
        loop {
            let name = *path.get(i)?;
            let field = ty.fields.iter().find(|f| f.name == name)?;
            if i + 1 == path.len() {
                return match field.strategy {
                    TableStrategy::N => None,
                    TableStrategy::M(key) => Some(PatchStrategy::Merge { merge_key: key.map(str::to_string) }),
                    TableStrategy::R => Some(PatchStrategy::Replace),
                };
            }
            if field.map_values {
                i += 1;
                if i + 1 == path.len() {
                    return None;
                }
            }
            ty = find_type(field.child?)?;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_closed() {
        assert!(TYPES.windows(2).all(|w| w[0].name < w[1].name));
        for t in TYPES {
            for f in t.fields {
                if let Some(c) = f.child {
                    assert!(find_type(c).is_some(), "{} -> {c}", t.name);
                }
            }
        }
        for (_, _, root) in KINDS {
            assert!(root.is_empty() || find_type(root).is_some(), "{root}");
        }
    }

    #[test]
    fn builtin_lookups_match_upstream_tags() {
        let pod = builtin_patch_meta("v1", "Pod").expect("pod");
        let by = |k: &str| Some(PatchStrategy::merge_by(k));
        assert_eq!(pod.strategy(&["spec", "containers"]), by("name"));
        assert_eq!(pod.strategy(&["spec", "containers", "ports"]), by("containerPort"));
        assert_eq!(pod.strategy(&["spec", "initContainers", "env"]), by("name"));
        assert_eq!(pod.strategy(&["spec", "containers", "volumeMounts"]), by("mountPath"));
        assert_eq!(pod.strategy(&["spec", "containers", "volumeDevices"]), by("devicePath"));
        assert_eq!(pod.strategy(&["spec", "ephemeralContainers", "env"]), by("name"));
        assert_eq!(pod.strategy(&["spec", "volumes"]), by("name"));
        assert_eq!(pod.strategy(&["spec", "imagePullSecrets"]), by("name"));
        assert_eq!(pod.strategy(&["spec", "hostAliases"]), by("ip"));
        assert_eq!(pod.strategy(&["spec", "tolerations"]), None);
        assert_eq!(pod.strategy(&["spec", "containers", "args"]), None);
        assert_eq!(pod.strategy(&["status", "conditions"]), by("type"));
        assert_eq!(pod.strategy(&["metadata", "finalizers"]), Some(PatchStrategy::merge_scalars()));
        assert_eq!(pod.strategy(&["metadata", "ownerReferences"]), by("uid"));
        assert_eq!(pod.strategy(&["metadata", "labels"]), None);
        assert_eq!(pod.strategy(&[]), None);

        let deploy = builtin_patch_meta("apps/v1", "Deployment").expect("deployment");
        assert_eq!(deploy.strategy(&["spec", "template", "spec", "containers"]), by("name"));
        assert_eq!(
            deploy.strategy(&["spec", "template", "metadata", "finalizers"]),
            Some(PatchStrategy::merge_scalars())
        );
        assert_eq!(deploy.strategy(&["status", "conditions"]), by("type"));
        let cj = builtin_patch_meta("batch/v1", "CronJob").expect("cronjob");
        assert_eq!(cj.strategy(&["spec", "jobTemplate", "spec", "template", "spec", "containers", "env"]), by("name"));

        let svc = builtin_patch_meta("v1", "Service").expect("service");
        assert_eq!(svc.strategy(&["spec", "ports"]), by("port"));
        let node = builtin_patch_meta("v1", "Node").expect("node");
        assert_eq!(node.strategy(&["status", "addresses"]), by("type"));
        assert_eq!(node.strategy(&["status", "conditions"]), by("type"));
        let sa = builtin_patch_meta("v1", "ServiceAccount").expect("sa");
        assert_eq!(sa.strategy(&["secrets"]), by("name"));
        let role = builtin_patch_meta("rbac.authorization.k8s.io/v1", "ClusterRole").expect("role");
        assert_eq!(role.strategy(&["rules"]), None);
        let pdb = builtin_patch_meta("policy/v1", "PodDisruptionBudget").expect("pdb");
        assert_eq!(pdb.strategy(&["spec", "selector"]), Some(PatchStrategy::Replace));
        let crd = builtin_patch_meta("apiextensions.k8s.io/v1", "CustomResourceDefinition").expect("crd");
        assert_eq!(
            crd.strategy(&[
                "spec",
                "versions",
                "schema",
                "openAPIV3Schema",
                "properties",
                "spec",
                "x-kubernetes-validations"
            ]),
            by("rule")
        );
        for (v, k) in [
            ("v1", "Namespace"),
            ("v1", "Endpoints"),
            ("v1", "ResourceQuota"),
            ("v1", "LimitRange"),
            ("v1", "Event"),
            ("events.k8s.io/v1", "Event"),
            ("coordination.k8s.io/v1", "Lease"),
            ("v1", "ConfigMap"),
        ] {
            let m = builtin_patch_meta(v, k).unwrap_or_else(|| panic!("{v} {k}"));
            assert_eq!(m.strategy(&["metadata", "ownerReferences"]), by("uid"), "{v} {k}");
        }
        assert!(builtin_patch_meta("example.com/v1", "Widget").is_none());
    }

    #[test]
    fn hand_tables_and_closures() {
        let t = PatchMetaTable::new().with("spec.*.ports", PatchStrategy::merge_by("port"));
        assert_eq!(t.strategy(&["spec", "a", "ports"]), Some(PatchStrategy::merge_by("port")));
        assert_eq!(t.strategy(&["spec", "ports"]), None);
        let f = |p: &[&str]| (p == ["x"]).then(PatchStrategy::merge_scalars);
        assert_eq!(f.strategy(&["x"]), Some(PatchStrategy::merge_scalars()));
    }
}
