//! Server-side apply and `metadata.managedFields`.
//! PLACEHOLDER: being replaced by canopy_machinery::managed.

use serde_json::Value;

use crate::error::ApiResult;
use crate::registry::Resource;

pub fn record_update(_res: &Resource, _old: Option<&Value>, _new: &mut Value, _manager: &str, _op: &str) {}

pub fn apply(res: &Resource, current: Option<&Value>, applied: &Value, _manager: &str, _force: bool) -> ApiResult<Value> {
    match current {
        None => Ok(applied.clone()),
        Some(cur) => crate::patch::apply_patch(res, if res.strategic_merge { crate::patch::PatchKind::Strategic } else { crate::patch::PatchKind::Merge }, cur, applied),
    }
}
