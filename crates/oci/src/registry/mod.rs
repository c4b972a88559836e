//! The registry side of a pull: HTTP(S) transport and the distribution API with auth.

mod client;
mod transport;

pub(crate) use client::RegistryClient;
pub(crate) use transport::Transport;
