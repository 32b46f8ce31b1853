//! The Menshen proxy (being built under issue 2).
