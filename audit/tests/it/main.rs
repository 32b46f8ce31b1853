//! Integration tests for the audit log: writer, tamper detection, crash
//! recovery and the CLI. One binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod common;
mod crash;
mod log;
mod prop;
mod tamper;
