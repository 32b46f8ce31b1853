//! `menshen`: the guardrail proxy binary.
fn main() {}
