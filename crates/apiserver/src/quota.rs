//! ResourceQuota: admission that charges a create, or the growth an update causes, against every
//! quota of its namespace before the object is stored, and the usage a quota controller
//! recomputes from live objects.
//!
//! Race-free: writes in one namespace that a quota constrains are serialised by a per-namespace
//! lock, and each charge is a compare-and-swap on the quota's `status.used`, so concurrent
//! servers sharing a store can never both take the last unit. A failed write gives its charge
//! back; deletions and shrinking updates free quota when the controller recomputes usage.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::objects::{ListParams, Objects};
use crate::quantity::Milli;
use crate::registry::Resource;

pub type Usage = BTreeMap<String, Milli>;

/// Per-namespace locks that serialise quota charges.
#[derive(Default)]
pub struct QuotaLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl QuotaLocks {
    fn get(&self, ns: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.0.lock().expect("quota locks poisoned").entry(ns.to_string()).or_default().clone()
    }
}

fn count_name(res: &Resource) -> String {
    if res.group.is_empty() { format!("count/{}", res.plural) } else { format!("count/{}.{}", res.plural, res.group) }
}

fn is_terminal_pod(obj: &Value) -> bool {
    matches!(obj.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"))
}

/// Sum of a pod's container requests or limits for `resource` (cpu, memory), with init
/// containers counted as upstream does: max(sum of containers, largest init container).
fn pod_resource(obj: &Value, kind: &str, resource: &str) -> Milli {
    let get = |c: &Value| {
        c.pointer(&format!("/resources/{kind}/{resource}"))
            .and_then(Value::as_str)
            .and_then(|q| Milli::parse(q).ok())
            .or_else(|| {
                // An unset request defaults to the limit.
                (kind == "requests")
                    .then(|| c.pointer(&format!("/resources/limits/{resource}")).and_then(Value::as_str))
                    .flatten()
                    .and_then(|q| Milli::parse(q).ok())
            })
            .unwrap_or_default()
    };
    let list = |l: &str| obj.pointer(&format!("/spec/{l}")).and_then(Value::as_array).cloned().unwrap_or_default();
    let sum = list("containers").iter().map(get).fold(Milli::default(), |a, b| a + b);
    let init = list("initContainers").iter().map(get).max().unwrap_or_default();
    sum.max(init)
}

const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";

/// A per-class quota name (`gold.storageclass.storage.k8s.io/requests.storage`) split into the
/// class and what it limits.
fn storage_class_key(name: &str) -> Option<(&str, &str)> {
    name.split_once(STORAGE_CLASS_SUFFIX)
}

fn pvc_storage(obj: &Value) -> Option<Milli> {
    obj.pointer("/spec/resources/requests/storage").and_then(Value::as_str).and_then(|q| Milli::parse(q).ok())
}

/// Whether the quota resource name `name` counts objects of `res`.
fn applies(res: &Resource, name: &str) -> bool {
    let core = |plural: &str| res.group.is_empty() && res.plural == plural;
    match name {
        n if n == count_name(res) => true,
        "requests.storage" => core("persistentvolumeclaims"),
        n if storage_class_key(n).is_some() => core("persistentvolumeclaims"),
        "pods" | "cpu" | "memory" => core("pods"),
        n if n.starts_with("requests.") || n.starts_with("limits.") => core("pods"),
        "services" | "services.loadbalancers" | "services.nodeports" => core("services"),
        "secrets" | "configmaps" | "persistentvolumeclaims" | "replicationcontrollers" | "resourcequotas" => core(name),
        _ => false,
    }
}

/// What one object of `res` uses of each quota resource name in `names`.
pub fn usage_of(res: &Resource, obj: &Value, names: &[String]) -> Usage {
    let one = Milli(1000);
    let mut usage = Usage::new();
    let pod = res.group.is_empty() && res.plural == "pods";
    if pod && is_terminal_pod(obj) {
        return usage;
    }
    for name in names.iter().filter(|n| applies(res, n)) {
        let value = match name.as_str() {
            n if n == count_name(res) => Some(one),
            "pods" => Some(one),
            "services"
            | "secrets"
            | "configmaps"
            | "persistentvolumeclaims"
            | "replicationcontrollers"
            | "resourcequotas" => Some(one),
            "services.loadbalancers" => {
                (obj.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer")).then_some(one)
            }
            "services.nodeports" => {
                let t = obj.pointer("/spec/type").and_then(Value::as_str);
                matches!(t, Some("NodePort" | "LoadBalancer")).then(|| {
                    let n = obj.pointer("/spec/ports").and_then(Value::as_array).map_or(0, Vec::len);
                    Milli(1000 * n as i128)
                })
            }
            "requests.storage" => pvc_storage(obj),
            "cpu" | "requests.cpu" => Some(pod_resource(obj, "requests", "cpu")),
            "memory" | "requests.memory" => Some(pod_resource(obj, "requests", "memory")),
            "limits.cpu" => Some(pod_resource(obj, "limits", "cpu")),
            "limits.memory" => Some(pod_resource(obj, "limits", "memory")),
            n => storage_class_key(n).and_then(|(class, what)| {
                let own = obj.pointer("/spec/storageClassName").and_then(Value::as_str);
                match what {
                    _ if own != Some(class) => None,
                    "requests.storage" => pvc_storage(obj),
                    "persistentvolumeclaims" => Some(one),
                    _ => None,
                }
            }),
        };
        if let Some(v) = value.filter(|v| v.0 != 0) {
            usage.insert(name.clone(), v);
        }
    }
    usage
}

fn hard(quota: &Value) -> Usage {
    quota
        .pointer("/spec/hard")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().and_then(|q| Milli::parse(q).ok()).map(|q| (k.clone(), q)))
                .collect()
        })
        .unwrap_or_default()
}

fn used(quota: &Value) -> Option<Usage> {
    quota.pointer("/status/used").and_then(Value::as_object).map(|m| {
        m.iter().filter_map(|(k, v)| v.as_str().and_then(|q| Milli::parse(q).ok()).map(|q| (k.clone(), q))).collect()
    })
}

/// How upstream prints an amount of quota resource `name`: bytes in binary units.
fn show(name: &str, v: Milli) -> String {
    if name.contains("memory") || name.contains("storage") { v.format_bytes() } else { v.format() }
}

fn render(u: &Usage) -> Value {
    Value::Object(u.iter().map(|(k, v)| (k.clone(), json!(show(k, *v)))).collect())
}

fn quota_resource(objects: &Objects) -> Arc<Resource> {
    objects.registry.get("", "v1", "resourcequotas").expect("resourcequotas are built in")
}

/// Current usage of `names` in `ns`, from the live objects.
pub async fn compute_usage(objects: &Objects, ns: &str, names: &[String]) -> ApiResult<Usage> {
    let mut total = Usage::new();
    for res in objects.registry.storage_resources() {
        if !res.namespaced {
            continue;
        }
        if !names.iter().any(|n| applies(&res, n)) {
            continue;
        }
        for obj in objects.list(&res, Some(ns), &ListParams::default(), &|_| true).await?.items {
            for (k, v) in usage_of(&res, &obj, names) {
                let e = total.entry(k).or_default();
                *e = *e + v;
            }
        }
    }
    Ok(total)
}

/// A charge taken by admission; give it back if the create fails.
pub struct Charge {
    _guard: tokio::sync::OwnedMutexGuard<()>,
    taken: Vec<(String, Usage)>,
}

/// Whether some quota of `ns` counts objects of `res`.
pub async fn tracks(objects: &Objects, res: &Resource, ns: &str) -> ApiResult<bool> {
    let qres = quota_resource(objects);
    let quotas = objects.list(&qres, Some(ns), &ListParams::default(), &|_| true).await?.items;
    Ok(quotas.iter().any(|q| hard(q).keys().any(|k| applies(res, k))))
}

/// What writing `new` over `old` (nothing, for a create) adds to each of `names`: growth only,
/// since what an update frees comes back when the controller recounts.
fn growth(res: &Resource, new: &Value, old: Option<&Value>, names: &[String]) -> Usage {
    let mut delta = usage_of(res, new, names);
    if let Some(old) = old {
        let before = usage_of(res, old, names);
        delta.retain(|k, v| {
            *v = Milli(v.0 - before.get(k).map_or(0, |b| b.0));
            v.0 > 0
        });
    }
    delta
}

/// Compute resources a quota tracks must be given for every container of a pod (upstream's
/// `must specify limits.cpu for: app`), else the quota could not tell what the pod uses.
fn check_required(res: &Resource, obj: &Value, quota: &str, limits: &Usage) -> ApiResult<()> {
    if !(res.group.is_empty() && res.plural == "pods") {
        return Ok(());
    }
    let mut missing = Vec::new();
    for key in limits.keys() {
        let (kind, resource) = match key.as_str() {
            "cpu" | "requests.cpu" => ("requests", "cpu"),
            "memory" | "requests.memory" => ("requests", "memory"),
            "limits.cpu" => ("limits", "cpu"),
            "limits.memory" => ("limits", "memory"),
            _ => continue,
        };
        let containers = ["initContainers", "containers"]
            .iter()
            .flat_map(|l| obj.pointer(&format!("/spec/{l}")).and_then(Value::as_array).cloned().unwrap_or_default());
        let given = |c: &Value, k: &str| c.pointer(&format!("/resources/{k}/{resource}")).is_some();
        let lacking: Vec<String> = containers
            .filter(|c| !(given(c, kind) || (kind == "requests" && given(c, "limits"))))
            .map(|c| c["name"].as_str().unwrap_or_default().to_string())
            .collect();
        if !lacking.is_empty() {
            missing.push(format!("{kind}.{resource} for: {}", lacking.join(",")));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        missing.dedup();
        Err(ApiError::Forbidden(format!("failed quota: {quota}: must specify {}", missing.join("; "))))
    }
}

/// Charges writing `new` over `old` (`None` for a create) against the quotas of `ns`, or
/// refuses with upstream's 403 `exceeded quota`.
pub async fn charge(
    objects: &Objects,
    locks: &QuotaLocks,
    res: &Resource,
    ns: &str,
    new: &Value,
    old: Option<&Value>,
) -> ApiResult<Option<Charge>> {
    let qres = quota_resource(objects);
    let quotas = objects.list(&qres, Some(ns), &ListParams::default(), &|_| true).await?.items;
    if quotas.is_empty() {
        return Ok(None);
    }
    if old.is_none() {
        for q in &quotas {
            check_required(res, new, meta::name(q), &hard(q))?;
        }
    }
    let names: Vec<String> = quotas.iter().flat_map(|q| hard(q).into_keys()).collect();
    if growth(res, new, old, &names).is_empty() {
        return Ok(None);
    }
    let guard = locks.get(ns).lock_owned().await;
    let mut taken = Vec::new();
    for q in objects.list(&qres, Some(ns), &ListParams::default(), &|_| true).await?.items {
        let name = meta::name(&q).to_string();
        let limits = hard(&q);
        let delta = growth(res, new, old, &limits.keys().cloned().collect::<Vec<_>>());
        if delta.is_empty() {
            continue;
        }
        let result = objects
            .update(&qres, Some(ns), &name, false, |mut current| {
                let limits = hard(&current);
                let base = match used(&current) {
                    Some(u) => u,
                    None => {
                        return Err(ApiError::Forbidden(format!(
                            "status unknown for quota: {name}, resource: {}",
                            delta.keys().cloned().collect::<Vec<_>>().join(", ")
                        )));
                    }
                };
                let mut next = base.clone();
                // Upstream's message: requested, used and limited amounts of each exceeded resource.
                let (mut requested, mut in_use, mut limited) = (Vec::new(), Vec::new(), Vec::new());
                for (k, v) in &delta {
                    let u = base.get(k).copied().unwrap_or_default();
                    next.insert(k.clone(), u + *v);
                    if let Some(h) = limits.get(k)
                        && u + *v > *h
                    {
                        requested.push(format!("{k}={}", show(k, *v)));
                        in_use.push(format!("{k}={}", show(k, u)));
                        limited.push(format!("{k}={}", show(k, *h)));
                    }
                }
                if !requested.is_empty() {
                    return Err(ApiError::Forbidden(format!(
                        "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
                        requested.join(","),
                        in_use.join(","),
                        limited.join(",")
                    )));
                }
                current["status"]["used"] = render(&next);
                meta::meta_mut(&mut current).remove("resourceVersion");
                Ok(current)
            })
            .await;
        match result {
            Ok(_) => taken.push((name, delta)),
            Err(e) => {
                refund(objects, ns, &taken).await;
                return Err(e);
            }
        }
    }
    Ok(Some(Charge { _guard: guard, taken }))
}

impl Charge {
    /// Gives the charge back (the create it paid for failed).
    pub async fn refund(self, objects: &Objects, ns: &str) {
        refund(objects, ns, &self.taken).await;
    }
}

async fn refund(objects: &Objects, ns: &str, taken: &[(String, Usage)]) {
    let qres = quota_resource(objects);
    for (name, delta) in taken {
        let _ = objects
            .update(&qres, Some(ns), name, false, |mut q| {
                let mut u = used(&q).unwrap_or_default();
                for (k, v) in delta {
                    let e = u.entry(k.clone()).or_default();
                    *e = Milli((e.0 - v.0).max(0));
                }
                q["status"]["used"] = render(&u);
                meta::meta_mut(&mut q).remove("resourceVersion");
                Ok(q)
            })
            .await;
    }
}

/// The quota controller: `status.hard` mirrors `spec.hard` and `status.used` the live usage.
pub async fn reconcile_all(objects: &Objects, locks: &QuotaLocks) -> ApiResult<()> {
    let qres = quota_resource(objects);
    for q in objects.list(&qres, None, &ListParams::default(), &|_| true).await?.items {
        let ns = meta::meta_str(&q, "namespace").unwrap_or_default().to_string();
        let name = meta::name(&q).to_string();
        let names: Vec<String> = hard(&q).into_keys().collect();
        // Holding the namespace's lock keeps a recount from racing a charge in flight.
        let _guard = locks.get(&ns).lock_owned().await;
        let usage = compute_usage(objects, &ns, &names).await?;
        let mut used = Usage::new();
        for n in &names {
            used.insert(n.clone(), usage.get(n).copied().unwrap_or_default());
        }
        let want_used = render(&used);
        let result = objects
            .update(&qres, Some(&ns), &name, false, |mut cur| {
                cur["status"]["hard"] = cur.pointer("/spec/hard").cloned().unwrap_or(json!({}));
                cur["status"]["used"] = want_used.clone();
                meta::meta_mut(&mut cur).remove("resourceVersion");
                Ok(cur)
            })
            .await;
        match result {
            Ok(_) | Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
