//! Integration tests for the audit log: writer, tamper detection, crash
//! recovery and the CLI. One binary, one module per area.

mod common;
mod crash;
mod log;
mod tamper;
