//! The Menshen proxy: a guardrail reverse proxy for LLM APIs.
//!
//! A request passes a tower stack (see [`stack`]) on hyper: it is decoded
//! from its wire format ([`api`]) into a `Conversation`, scanned by the
//! detectors of `menshen-classifiers`, decided on by the policy of
//! `menshen-policies`, recorded by `menshen-audit`, and only then forwarded
//! ([`upstream`]); the answer, whole or streamed ([`sse`]), is scanned before
//! the client sees it.

pub mod admin;
pub mod api;
pub mod app;
pub mod audit;
pub mod config;
pub mod error;
pub mod metrics;
pub mod ndjson;
pub mod policy;
pub mod scan;
pub mod server;
pub mod sse;
pub mod stack;
pub mod telemetry;
pub mod upstream;
