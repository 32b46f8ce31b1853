//! Incremental Server-Sent Events parsing and writing.
