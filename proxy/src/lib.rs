//! The Menshen proxy: hyper server, tower guard stack, API adapters, upstream client.

pub mod api;
pub mod sse;
