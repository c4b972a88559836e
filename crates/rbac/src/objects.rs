//! Roles, ClusterRoles and their bindings read out of API JSON into the few fields RBAC uses.
//!
//! Owns the reading; what the objects mean is [`crate::Policy`]'s.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::PolicyError;
use crate::go::quote;
use crate::json::{self, FieldError};
use crate::rule::{PolicyRule, rules_from_json};
use crate::selector::LabelSelector;
use crate::user::service_account_username;

/// The RBAC object kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Role,
    ClusterRole,
    RoleBinding,
    ClusterRoleBinding,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Role => "Role",
            Kind::ClusterRole => "ClusterRole",
            Kind::RoleBinding => "RoleBinding",
            Kind::ClusterRoleBinding => "ClusterRoleBinding",
        }
    }
}

/// Object metadata RBAC reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meta {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
}

fn meta(obj: &Value, kind: Kind) -> Result<Meta, PolicyError> {
    if !obj.is_object() {
        return Err(PolicyError::Invalid {
            kind: kind.as_str(),
            object: String::new(),
            field: String::new(),
            problem: "must be an object".into(),
        });
    }
    if let Some(found) = obj.get("kind").and_then(Value::as_str)
        && found != kind.as_str()
    {
        return Err(PolicyError::WrongKind { expected: kind.as_str(), found: found.to_string() });
    }
    let read = || -> Result<Meta, FieldError> {
        let Some(m) = json::object(obj, "metadata")? else { return Ok(Meta::default()) };
        Ok(Meta {
            namespace: json::string(m, "namespace")?,
            name: json::string(m, "name")?,
            labels: json::string_map(m, "labels")?,
        })
    };
    read().map_err(|e| {
        let e = e.under("metadata");
        PolicyError::Invalid { kind: kind.as_str(), object: String::new(), field: e.field, problem: e.problem }
    })
}

fn invalid(kind: Kind, meta: &Meta, e: FieldError) -> PolicyError {
    let object =
        if meta.namespace.is_empty() { meta.name.clone() } else { format!("{}/{}", meta.namespace, meta.name) };
    PolicyError::Invalid { kind: kind.as_str(), object, field: e.field, problem: e.problem }
}

/// A Role or ClusterRole.
#[derive(Debug, Clone)]
pub(crate) struct RoleObject {
    pub(crate) meta: Meta,
    pub(crate) rules: Vec<PolicyRule>,
    /// `aggregationRule.clusterRoleSelectors`, when the aggregation rule is set.
    pub(crate) aggregation: Option<Vec<LabelSelector>>,
}

impl RoleObject {
    pub(crate) fn parse(obj: &Value, kind: Kind) -> Result<Self, PolicyError> {
        let meta = meta(obj, kind)?;
        let rules = rules_from_json(obj).map_err(|e| invalid(kind, &meta, e))?;
        let aggregation = match kind {
            Kind::ClusterRole => aggregation(obj).map_err(|e| invalid(kind, &meta, e))?,
            _ => None,
        };
        Ok(RoleObject { meta, rules, aggregation })
    }
}

fn aggregation(obj: &Value) -> Result<Option<Vec<LabelSelector>>, FieldError> {
    let Some(rule) = json::object(obj, "aggregationRule")? else { return Ok(None) };
    let selectors = json::list(rule, "clusterRoleSelectors")
        .map_err(|e| e.under("aggregationRule"))?
        .iter()
        .enumerate()
        .map(|(i, s)| {
            LabelSelector::from_json(s).map_err(|e| e.under(&format!("aggregationRule.clusterRoleSelectors[{i}]")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(selectors))
}

/// A binding's `roleRef`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RoleRef {
    pub(crate) api_group: String,
    pub(crate) kind: String,
    pub(crate) name: String,
}

/// A binding's subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Subject {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) namespace: String,
}

/// The identity a subject stands for, as the policy indexes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SubjectKey {
    User(String),
    Group(String),
}

impl Subject {
    /// The user or group this subject matches in a binding in `binding_namespace` (`""` for a
    /// ClusterRoleBinding): a ServiceAccount without a namespace takes the binding's, and matches
    /// nothing in a ClusterRoleBinding; unknown kinds match nothing (upstream's `appliesToUser`).
    pub(crate) fn key(&self, binding_namespace: &str) -> Option<SubjectKey> {
        match self.kind.as_str() {
            "User" => Some(SubjectKey::User(self.name.clone())),
            "Group" => Some(SubjectKey::Group(self.name.clone())),
            "ServiceAccount" => {
                let ns = if self.namespace.is_empty() { binding_namespace } else { &self.namespace };
                (!ns.is_empty()).then(|| SubjectKey::User(service_account_username(ns, &self.name)))
            }
            _ => None,
        }
    }

    /// Upstream's `describeSubject`: `User "alice"`, `ServiceAccount "name/namespace"`.
    pub(crate) fn describe(&self, binding_namespace: &str) -> String {
        match self.kind.as_str() {
            "ServiceAccount" => {
                let ns = if self.namespace.is_empty() { binding_namespace } else { &self.namespace };
                format!("{} {}", self.kind, quote(&format!("{}/{ns}", self.name)))
            }
            _ => format!("{} {}", self.kind, quote(&self.name)),
        }
    }
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Debug, Clone)]
pub(crate) struct BindingObject {
    pub(crate) meta: Meta,
    pub(crate) role_ref: RoleRef,
    pub(crate) subjects: Vec<Subject>,
}

impl BindingObject {
    pub(crate) fn parse(obj: &Value, kind: Kind) -> Result<Self, PolicyError> {
        let meta = meta(obj, kind)?;
        let read = || -> Result<(RoleRef, Vec<Subject>), FieldError> {
            let role_ref = match json::object(obj, "roleRef")? {
                None => RoleRef::default(),
                Some(r) => (|| {
                    Ok::<_, FieldError>(RoleRef {
                        api_group: json::string(r, "apiGroup")?,
                        kind: json::string(r, "kind")?,
                        name: json::string(r, "name")?,
                    })
                })()
                .map_err(|e| e.under("roleRef"))?,
            };
            let subjects = json::list(obj, "subjects")?
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let subject = || {
                        if !s.is_object() {
                            return Err(FieldError::new("", "must be an object"));
                        }
                        Ok(Subject {
                            kind: json::string(s, "kind")?,
                            name: json::string(s, "name")?,
                            namespace: json::string(s, "namespace")?,
                        })
                    };
                    subject().map_err(|e| e.under(&format!("subjects[{i}]")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((role_ref, subjects))
        };
        let (role_ref, subjects) = read().map_err(|e| invalid(kind, &meta, e))?;
        Ok(BindingObject { meta, role_ref, subjects })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_bindings_and_reports_bad_fields() {
        let b = BindingObject::parse(
            &json!({"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "ns"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "ServiceAccount", "name": "builder"}, {"kind": "Robot", "name": "r2"}]}),
            Kind::RoleBinding,
        )
        .expect("valid binding");
        assert_eq!(b.role_ref.name, "view");
        assert_eq!(b.subjects[0].key("ns"), Some(SubjectKey::User("system:serviceaccount:ns:builder".into())));
        assert_eq!(b.subjects[0].key(""), None);
        assert_eq!(b.subjects[1].key("ns"), None);
        assert_eq!(b.subjects[0].describe("ns"), r#"ServiceAccount "builder/ns""#);

        let err = BindingObject::parse(
            &json!({"metadata": {"name": "b", "namespace": "ns"}, "subjects": [{"kind": 1}]}),
            Kind::RoleBinding,
        )
        .expect_err("bad subject");
        assert_eq!(err.to_string(), r#"RoleBinding "ns/b" is invalid: subjects[0].kind: must be a string"#);

        let err = RoleObject::parse(&json!({"kind": "Role"}), Kind::ClusterRole).expect_err("wrong kind");
        assert_eq!(err.to_string(), r#"expected a ClusterRole, got kind "Role""#);
        let err = RoleObject::parse(&json!({"metadata": {"labels": []}}), Kind::ClusterRole).expect_err("bad");
        assert_eq!(err.to_string(), r#"ClusterRole "" is invalid: metadata.labels: must be a map of strings"#);
    }
}
