//! Checks of Lode's journal protocol that go beyond tests: [`slots`] is a model of DESIGN §3
//! (masters whose leases can lapse while they are paused, a store with `put_if_absent`, reads,
//! deletes and puts that hang and land later, checkpoints, truncation) that
//! [stateright](https://docs.rs/stateright) explores exhaustively for small bounds. Every rule
//! of §3 can be switched off in [`slots::Rules`], so the checks show that each rule is needed:
//! with one reverted the checker finds the run that breaks a property.
//!
//! [`sim`] runs the real `lode-core` journal code — three masters over one in-memory store that
//! delays, loses, fails and hangs calls as a seed says — on tokio's paused clock, so each seed
//! replays exactly, and checks the same properties at the end of each run.
//!
//! What was checked, to what depth, how long it took and what it found: docs/verification.md.

pub mod sim;
pub mod slots;
