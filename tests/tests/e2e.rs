//! End-to-end tests: a real proxy on 127.0.0.1 in front of a real HTTP
//! upstream started by the test, which records what it received.
#![allow(
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod e2e {
    pub mod support;

    mod admin;
    mod agents;
    mod audit;
    mod blocking;
    mod failures;
    mod faults;
    mod ollama;
    mod output_rules;
    mod passthrough;
    mod review;
    mod streaming;
    mod telemetry;
    mod thinking;
}
