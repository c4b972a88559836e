//! The three patch formats of a `PATCH` (apply is in `apply`).

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::registry::Resource;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(ctype: &str, strategic_supported: bool) -> ApiResult<Self> {
        match ctype {
            "application/json-patch+json" => Ok(Self::Json),
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/strategic-merge-patch+json" if strategic_supported => Ok(Self::Strategic),
            "application/apply-patch+yaml" => Ok(Self::Apply),
            other => Err(ApiError::UnsupportedMediaType(format!(
                "{other:?}: the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{}",
                if strategic_supported { ", application/strategic-merge-patch+json" } else { "" }
            ))),
        }
    }
}

/// Applies a JSON, merge or strategic merge patch to `current`.
pub fn apply_patch(res: &Resource, kind: PatchKind, current: &Value, patch: &Value) -> ApiResult<Value> {
    match kind {
        PatchKind::Json => {
            let mut target = current.clone();
            canopy_machinery::merge::apply_json_patch(&mut target, patch).map_err(|e| ApiError::Invalid {
                kind: res.kind.clone(),
                group: res.group.clone(),
                name: name_of(current),
                causes: vec![e.to_string()],
            })?;
            Ok(target)
        }
        PatchKind::Merge => {
            if !patch.is_object() {
                return Err(ApiError::BadRequest("a merge patch must be a JSON object".into()));
            }
            let mut target = current.clone();
            canopy_machinery::merge::apply_merge_patch(&mut target, patch);
            Ok(target)
        }
        PatchKind::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::BadRequest("a strategic merge patch must be a JSON object".into()));
            }
            let result = match canopy_machinery::strategic::builtin_patch_meta(&res.api_version(), &res.kind) {
                Some(meta) => canopy_machinery::strategic::apply(current, patch, &meta),
                None => canopy_machinery::strategic::apply(current, patch, &canopy_machinery::strategic::NoPatchMeta),
            };
            result.map_err(|e| ApiError::BadRequest(e.to_string()))
        }
        PatchKind::Apply => Err(ApiError::Internal("apply patches go through apply::apply".into())),
    }
}

fn name_of(obj: &Value) -> String {
    crate::meta::name(obj).to_string()
}
