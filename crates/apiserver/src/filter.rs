//! List and watch filters: label and field selectors, with the fields each kind supports.

use serde_json::Value;

use canopy_machinery::fields::FieldSelector;
use canopy_machinery::labels::LabelSelector;

use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::projection::Projection;
use crate::registry::Resource;

/// A parsed `labelSelector` + `fieldSelector` pair.
pub struct Filter {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    /// What of a stored object the selectors read.
    reads: Projection,
    /// `reads` written out: equal for filters that read the same fields.
    reads_key: std::sync::Arc<str>,
    /// The selectors as written: equal for filters that select the same.
    key: std::sync::Arc<str>,
}

impl Filter {
    pub fn parse(res: &Resource, label_selector: Option<&str>, field_selector: Option<&str>) -> ApiResult<Self> {
        let labels = label_selector
            .map(|s| {
                LabelSelector::parse(s).map_err(|e| ApiError::BadRequest(format!("unable to parse requirement: {e}")))
            })
            .transpose()?;
        let fields = field_selector
            .map(|s| FieldSelector::parse(s).map_err(|e| ApiError::BadRequest(format!("invalid field selector: {e}"))))
            .transpose()?;
        if let Some(fs) = &fields {
            for f in fs.fields() {
                if !supported_field(res, f) {
                    return Err(ApiError::BadRequest(format!("field label not supported: {f}")));
                }
            }
        }
        let mut reads = Projection::default();
        if labels.is_some() {
            reads.add("metadata.labels");
        }
        for f in fields.iter().flat_map(FieldSelector::fields) {
            reads.add(field_path(f));
        }
        let reads_key = format!("{reads:?}").into();
        let key = format!("{}\n{}", label_selector.unwrap_or_default(), field_selector.unwrap_or_default()).into();
        Ok(Self { labels, fields, reads, reads_key, key })
    }

    /// Whether the stored JSON object `bytes` matches, decoding only what the selectors read.
    /// A document that does not parse matches, so that decoding it in full reports the error.
    pub fn matches_stored(&self, bytes: &[u8]) -> bool {
        self.is_empty() || self.matches_partial(self.reads.decode(bytes).ok().as_ref())
    }

    /// [`Filter::matches_stored`] given the stored object as decoded by [`Filter::reads`]
    /// (`None` when it did not parse), for callers that share one decoding among filters.
    pub fn matches_partial(&self, partial: Option<&Value>) -> bool {
        self.is_empty() || partial.is_none_or(|p| self.matches(p))
    }

    /// The selectors as written, naming the filter in verdicts shared among watchers.
    pub fn key(&self) -> &std::sync::Arc<str> {
        &self.key
    }

    /// What of a stored object the selectors read, and that written out as a key (filters
    /// reading the same fields have equal keys).
    pub fn reads(&self) -> (&Projection, &std::sync::Arc<str>) {
        (&self.reads, &self.reads_key)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(l) = &self.labels
            && !l.matches(&meta::labels(obj))
        {
            return false;
        }
        if let Some(f) = &self.fields
            && !f.matches(|field| field_value(obj, field))
        {
            return false;
        }
        true
    }
}

/// The fields upstream lets each kind select on (metadata.name/namespace everywhere).
fn supported_field(res: &Resource, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    if res.crd.is_some() {
        return false;
    }
    let allowed: &[&str] = match (res.group.as_str(), res.plural.as_str()) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("", "secrets") => &["type"],
        ("", "namespaces") => &["status.phase"],
        ("", "nodes") => &["spec.unschedulable"],
        ("apps", "replicasets") => &["status.replicas"],
        _ => &[],
    };
    allowed.contains(&field)
}

/// Where a selectable field lives in the object.
fn field_path(field: &str) -> &str {
    match field {
        "source" => "source.component",
        f => f,
    }
}

/// A field's value as a string; missing fields read as empty, like upstream.
fn field_value(obj: &Value, field: &str) -> Option<String> {
    let mut cur = obj;
    for part in field_path(field).split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return Some(String::new()),
        }
    }
    Some(match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    })
}
