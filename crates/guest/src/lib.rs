//! `canopy-guest`: the init of a pod's microVM (see `main.rs`), and the protocol it speaks with
//! the host agent, shared with the agent's `microvm` runtime.

pub mod protocol;
