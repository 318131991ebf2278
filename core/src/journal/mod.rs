//! The journal protocol (DESIGN §3), written once for every [`crate::store::JournalStore`].
pub mod format;
