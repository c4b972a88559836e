//! What the platform's own API clients (scheduler, controllers, hosts) share to keep their
//! per-pod work small.
//!
//! The scheduler, the ReplicaSet controller and every host follow every pod they care about
//! through a watch, and decoding those events is a large share of their work: at scale most
//! of a pod's JSON is its `metadata.managedFields`, which none of them reads. [`LeanPod`] is a
//! [`Pod`](k8s_openapi::api::core::v1::Pod) decoded without it, usable wherever kube-rs wants a resource type (`Api`,
//! `watcher`, reflector stores); [`PodOutline`] leaves out containers and volumes too.
//! [`unread`] sends writes without decoding their answers; [`time`] writes times as the API
//! stores them.

mod pod;
pub mod time;
pub mod unread;

pub use pod::{LeanPod, PodDecoding, PodOutline, into_pods};
