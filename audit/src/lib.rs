//! Signed, tamper-evident audit log (being built under issue 6).
