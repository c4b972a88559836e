//! Structural schema validation and pruning for custom resources (in progress).
