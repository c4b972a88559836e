//! The resource vector the scheduler accounts: cpu, memory and pod slots.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::quantity::{parse_milli, parse_value};

/// Amounts of the resources the scheduler places by. Arithmetic saturates so a bogus huge
/// quantity cannot wrap around and make a full node look empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    /// CPU in thousandths of a core.
    pub cpu_milli: i64,
    /// Memory in bytes.
    pub memory_bytes: i64,
    /// Pod slots.
    pub pods: i64,
}

impl Resources {
    /// Builds a vector from its three components.
    pub const fn new(cpu_milli: i64, memory_bytes: i64, pods: i64) -> Self {
        Self { cpu_milli, memory_bytes, pods }
    }

    /// Component-wise sum (saturating).
    #[must_use]
    pub fn add(&self, other: &Resources) -> Resources {
        Resources {
            cpu_milli: self.cpu_milli.saturating_add(other.cpu_milli),
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
            pods: self.pods.saturating_add(other.pods),
        }
    }

    /// Component-wise difference (saturating).
    #[must_use]
    pub fn sub(&self, other: &Resources) -> Resources {
        Resources {
            cpu_milli: self.cpu_milli.saturating_sub(other.cpu_milli),
            memory_bytes: self.memory_bytes.saturating_sub(other.memory_bytes),
            pods: self.pods.saturating_sub(other.pods),
        }
    }

    /// Component-wise maximum.
    #[must_use]
    pub fn max(&self, other: &Resources) -> Resources {
        Resources {
            cpu_milli: self.cpu_milli.max(other.cpu_milli),
            memory_bytes: self.memory_bytes.max(other.memory_bytes),
            pods: self.pods.max(other.pods),
        }
    }

    /// True when every component of `self` is at most the same component of `capacity`.
    pub fn fits(&self, capacity: &Resources) -> bool {
        self.cpu_milli <= capacity.cpu_milli && self.memory_bytes <= capacity.memory_bytes && self.pods <= capacity.pods
    }

    /// Reads `cpu`, `memory` and `pods` from a Kubernetes resource list. Unparseable
    /// quantities count as absent: the API server validates them, so this only guards against
    /// objects that bypassed validation.
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> ResourceList {
        let get = |name: &str, parse: fn(&str) -> Result<i64, crate::QuantityError>| {
            list.get(name).and_then(|q| parse(&q.0).ok())
        };
        ResourceList {
            cpu_milli: get("cpu", parse_milli),
            memory_bytes: get("memory", parse_value),
            pods: get("pods", parse_value),
        }
    }
}

/// A resource list where each entry may be absent (upstream distinguishes "unset" from 0 for
/// limits fallback, non-zero scoring defaults and capacity fallback).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceList {
    /// `cpu` in millis, if present.
    pub cpu_milli: Option<i64>,
    /// `memory` in bytes, if present.
    pub memory_bytes: Option<i64>,
    /// `pods`, if present.
    pub pods: Option<i64>,
}

impl ResourceList {
    /// Entries of `self`, each falling back to the same entry of `other` when absent.
    #[must_use]
    pub fn or(self, other: ResourceList) -> ResourceList {
        ResourceList {
            cpu_milli: self.cpu_milli.or(other.cpu_milli),
            memory_bytes: self.memory_bytes.or(other.memory_bytes),
            pods: self.pods.or(other.pods),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_sub_fits() {
        let a = Resources::new(1000, 1 << 30, 1);
        let b = Resources::new(500, 1 << 29, 2);
        assert_eq!(a.add(&b), Resources::new(1500, 3 << 29, 3));
        assert_eq!(a.add(&b).sub(&b), a);
        assert!(b.fits(&Resources::new(500, 1 << 29, 2)));
        assert!(!b.fits(&Resources::new(499, 1 << 30, 2)));
        assert!(!b.fits(&Resources::new(500, 1 << 30, 1)));
        assert_eq!(Resources::new(i64::MAX, 0, 0).add(&a).cpu_milli, i64::MAX, "saturates instead of wrapping");
    }

    #[test]
    fn from_list_reads_known_names() {
        let list: BTreeMap<String, Quantity> = [
            ("cpu".to_string(), Quantity("250m".into())),
            ("memory".to_string(), Quantity("64Mi".into())),
            ("nvidia.com/gpu".to_string(), Quantity("1".into())),
        ]
        .into();
        let r = Resources::from_list(&list);
        assert_eq!(r.cpu_milli, Some(250));
        assert_eq!(r.memory_bytes, Some(64 << 20));
        assert_eq!(r.pods, None);
    }
}
