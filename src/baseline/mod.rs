//! Baseline allowlist: accepted exceptions, expiry, stale entries (being written).
