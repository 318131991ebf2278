//! Lode's core: Alluxio-compatible configuration, the [`elector::LeaderElector`] and
//! [`store::JournalStore`] traits with their registries, the journal protocol that makes a
//! shared journal safe under failover, and the embedded single-host backends.
//!
//! See `DESIGN.md` (§2 traits, §3 journal protocol, §6 configuration).
#![warn(missing_docs)]

pub mod config;
pub mod elector;
pub mod journal;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
