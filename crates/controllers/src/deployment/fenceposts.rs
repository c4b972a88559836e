//! `maxSurge` and `maxUnavailable`, ints or percentages, resolved as upstream's
//! `ResolveFenceposts`: surge rounds up, unavailability rounds down, and both zero means one pod
//! may be unavailable (a rollout must be able to move).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Upstream's `GetScaledValueFromIntOrPercent`; an unparsable percentage counts as zero.
pub fn scaled(value: &IntOrString, total: i32, round_up: bool) -> i32 {
    match value {
        IntOrString::Int(v) => *v,
        IntOrString::String(s) => {
            let Some(percent) = s.strip_suffix('%').and_then(|p| p.trim().parse::<i64>().ok()) else {
                return s.parse().unwrap_or(0);
            };
            let product = percent * i64::from(total);
            let v = if round_up { (product + 99).div_euclid(100) } else { product.div_euclid(100) };
            i32::try_from(v).unwrap_or(i32::MAX)
        }
    }
}

/// `(maxSurge, maxUnavailable)` for `desired` replicas.
pub fn resolve(max_surge: Option<&IntOrString>, max_unavailable: Option<&IntOrString>, desired: i32) -> (i32, i32) {
    let default = IntOrString::String("25%".into());
    let surge = scaled(max_surge.unwrap_or(&default), desired, true);
    let unavailable = scaled(max_unavailable.unwrap_or(&default), desired, false);
    if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) }
}

/// Whether the Deployment rolls (the default) rather than recreates.
pub fn is_rolling(d: &Deployment) -> bool {
    let kind = d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.type_.as_deref());
    kind != Some("Recreate")
}

/// The Deployment's desired replicas.
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn fenceposts(d: &Deployment) -> (i32, i32) {
    let ru = d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
    resolve(ru.and_then(|r| r.max_surge.as_ref()), ru.and_then(|r| r.max_unavailable.as_ref()), replicas(d))
}

/// Upstream's `MaxSurge`: zero for Recreate.
pub fn max_surge(d: &Deployment) -> i32 {
    if is_rolling(d) { fenceposts(d).0 } else { 0 }
}

/// Upstream's `MaxUnavailable`: zero for Recreate or no replicas, never more than the replicas.
pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling(d) || replicas(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(replicas(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> IntOrString {
        IntOrString::String(v.into())
    }

    #[test]
    fn percentages_round_like_upstream() {
        // 25% of 10: surge 3 (up), unavailable 2 (down).
        assert_eq!(resolve(None, None, 10), (3, 2));
        assert_eq!(resolve(Some(&s("25%")), Some(&s("25%")), 1), (1, 0));
        assert_eq!(resolve(Some(&IntOrString::Int(0)), Some(&s("10%")), 5), (0, 1), "both zero: one may go");
        assert_eq!(resolve(Some(&IntOrString::Int(2)), Some(&IntOrString::Int(1)), 4), (2, 1));
        assert_eq!(resolve(Some(&s("50%")), Some(&s("0%")), 3), (2, 0));
    }
}
