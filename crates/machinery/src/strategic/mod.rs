//! Strategic merge patch (`application/strategic-merge-patch+json`), applied the way the
//! upstream API server applies it (`k8s.io/apimachinery/pkg/util/strategicpatch`):
//!
//! - maps merge recursively and `null` deletes a key;
//! - lists are replaced, unless the field's [`PatchStrategy`] is `Merge`: then lists of
//!   objects merge item by item on the merge key, and lists of scalars are unioned;
//! - directives: `$patch: replace | delete` (on maps and on list items), `$patch: merge`
//!   (accepted on maps, where upstream rejects it), `$deleteFromPrimitiveList/<field>`,
//!   `$setElementOrder/<field>` and `$retainKeys`;
//! - merged list order follows upstream: patch items in patch order interleaved with
//!   server-only items in their original order (new items therefore come first unless
//!   `$setElementOrder` says otherwise).
//!
//! Directives inside values that have nothing to merge with (a new field, a replaced list)
//! are processed against an empty value, so no `$`-directive is ever left in the result.

mod apply;
#[rustfmt::skip]
mod builtin_table;
mod list;
mod meta;

use serde_json::Value;

pub use meta::{
    BuiltinPatchMeta, NoPatchMeta, PatchMeta, PatchMetaTable, PatchStrategy, builtin_kinds, builtin_patch_meta,
};

use crate::merge::{DepthError, check_depth};

/// Nesting accepted by [`apply`] (deeper documents are rejected before recursing).
pub const MAX_DEPTH: usize = 256;

/// Errors from applying a strategic merge patch; texts follow upstream's `mergepatch` errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StrategicMergeError {
    /// The patch (or the original) is not a JSON object.
    #[error("invalid JSON document")]
    BadJsonDoc,
    /// A `$patch` directive with an unknown value.
    #[error("unknown patch type: {directive} in map: {map}")]
    BadPatchType {
        /// The directive value.
        directive: String,
        /// The map carrying it (JSON).
        map: String,
    },
    /// A list item lacks the merge key of its list.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey {
        /// The item (JSON).
        map: String,
        /// The merge key.
        key: String,
    },
    /// A merging list contains lists.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// A merging list mixes objects and scalars.
    #[error("list element types are not identical: {0}")]
    MixedListTypes(String),
    /// A merging list of objects has no merge key in the patch metadata.
    #[error("cannot merge lists without merge key for type map")]
    NoMergeKeyDeclared,
    /// `$patch: merge` on a list item.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    /// A malformed `$retainKeys` directive, or a patch key missing from it.
    #[error("invalid patch format of retainKeys")]
    BadRetainKeys,
    /// A malformed `$deleteFromPrimitiveList/...` directive.
    #[error("invalid patch format of primitive list")]
    BadPrimitiveList,
    /// A malformed `$setElementOrder/...` directive.
    #[error("invalid patch format of setElementOrder list")]
    BadSetElementOrder,
    /// The patch list is not ordered like its `$setElementOrder` list.
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    OrderMismatch {
        /// The patch list (JSON).
        patch: String,
        /// The `$setElementOrder` list (JSON).
        order: String,
    },
    /// The documents nest deeper than [`MAX_DEPTH`].
    #[error(transparent)]
    TooDeep(#[from] DepthError),
}

impl StrategicMergeError {
    /// True for errors upstream reports as `400 Bad Request` (the rest are 422 or 500).
    pub fn is_bad_request(&self) -> bool {
        matches!(self, Self::BadJsonDoc | Self::BadPrimitiveList | Self::BadRetainKeys | Self::BadSetElementOrder)
    }
}

/// Applies `patch` to `original` and returns the result. Both must be JSON objects.
pub fn apply(original: &Value, patch: &Value, meta: &dyn PatchMeta) -> Result<Value, StrategicMergeError> {
    let (Value::Object(orig), Value::Object(p)) = (original, patch) else {
        return Err(StrategicMergeError::BadJsonDoc);
    };
    check_depth(original, MAX_DEPTH)?;
    check_depth(patch, MAX_DEPTH)?;
    let mut path = Vec::new();
    apply::merge_map(orig.clone(), p, &mut path, meta).map(Value::Object)
}

#[cfg(test)]
mod tests;
