//! Helpers shared by Lode's integration tests and benchmarks.
