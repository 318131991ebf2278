//! Conformance suites that every journal store runs (DESIGN §2), plus helpers for them:
//! [`store`] checks the `JournalStore` contract, [`journal`] checks the journal protocol's
//! fencing on top of that store. A backend crate instantiates both with its own fixture:
//!
//! ```no_run
//! // A fresh, empty store per test; a backend makes one in its own service.
//! async fn fixture() -> lode_core::testkit::Fixture {
//!     lode_core::testkit::local_fixture().await
//! }
//! lode_core::journal_store_conformance!(fixture);
//! lode_core::journal_protocol_conformance!(fixture);
//! # fn main() {}
//! ```

pub mod appendable;
pub mod faulty;
pub mod fuzz;
pub mod journal;
pub mod ledger;
pub mod memory;
pub mod segments;
pub mod store;

use std::any::Any;
use std::sync::Arc;

use crate::store::{JournalStore, LocalStore};

pub use faulty::{Fault, FaultyStore};
pub use ledger::Ledger;
pub use memory::MemoryStore;

/// A fresh, empty store for one test, and whatever keeps it alive (a temp dir, a bucket).
pub struct Fixture {
    /// The store under test.
    pub store: Arc<dyn JournalStore>,
    /// Dropped when the test ends.
    pub guard: Box<dyn Any + Send>,
}

/// A fixture on the `local` store in a new temporary directory.
pub async fn local_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    Fixture { store: Arc::new(LocalStore::new(dir.path().join("journal"))), guard: Box::new(dir) }
}

/// Instantiates the `JournalStore` conformance suite as `#[tokio::test]`s, given an async fn
/// returning a fresh [`Fixture`].
#[macro_export]
macro_rules! journal_store_conformance {
    ($fixture:path) => {
        $crate::journal_store_conformance!(@tests $fixture;
            put_then_get_returns_the_bytes,
            exclusive_create_has_exactly_one_winner,
            a_landed_object_reads_whole_at_once,
            readers_never_see_partial_objects,
            listing_returns_exactly_the_written_keys,
            listing_a_folder_shows_its_sub_folders,
            deletes_are_idempotent,
            bad_keys_are_refused,
            temporary_garbage_is_cleaned,
        );
    };
    (@tests $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::testkit::store::$name($fixture().await).await;
            }
        )*
    };
}

/// Instantiates the `appendable` capability's conformance suite (DESIGN §3a) and the journal
/// protocol's checks over segments as `#[tokio::test]`s, given an async fn returning a fresh
/// [`Fixture`] whose store has the capability.
#[macro_export]
macro_rules! appendable_store_conformance {
    ($fixture:path) => {
        $crate::appendable_store_conformance!(@tests $fixture; appendable;
            concurrent_creators_have_exactly_one_winner,
            an_append_after_a_seal_fails,
            acknowledged_bytes_survive_the_seal,
            what_a_reader_saw_stays_after_the_seal,
            a_writer_cut_off_mid_append_leaves_whole_records,
        );
        $crate::appendable_store_conformance!(@tests $fixture; segments;
            a_deposed_writer_never_acknowledges_in_segments,
            racing_leaders_in_segments_acknowledge_one_history,
            a_tailer_follows_the_segments_exactly,
            a_torn_record_at_a_segments_end_is_not_history,
            a_slot_journal_goes_on_in_segments,
            truncation_deletes_whole_segments_and_restart_agrees,
            a_writer_paused_across_segment_truncation_never_acknowledges,
            failover_in_segments_is_exactly_once,
            a_deposed_leader_rebuilds_and_follows,
        );
    };
    (@tests $fixture:path; $module:ident; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::testkit::$module::$name($fixture().await).await;
            }
        )*
    };
}

/// A fixture on a fresh [`MemoryStore`] (appendable).
pub async fn memory_fixture() -> Fixture {
    Fixture { store: Arc::new(MemoryStore::new()), guard: Box::new(()) }
}

/// Instantiates the journal protocol conformance suite as `#[tokio::test]`s, given an async
/// fn returning a fresh [`Fixture`].
#[macro_export]
macro_rules! journal_protocol_conformance {
    ($fixture:path) => {
        $crate::journal_protocol_conformance!(@tests $fixture;
            a_deposed_writer_never_acknowledges,
            racing_leaders_never_share_a_slot,
            a_tailer_sees_exactly_the_committed_sequence,
            an_ambiguous_put_that_landed_is_acknowledged_once,
            an_ambiguous_put_that_did_not_land_is_retried,
            a_put_whose_fsync_failed_is_never_acknowledged,
            a_put_that_hangs_is_never_acknowledged,
            a_retry_cut_off_by_the_deadline_names_the_failure_before_it,
            a_write_in_flight_when_the_leadership_ends_is_answered_then,
            an_ambiguous_put_that_lost_the_slot_deposes,
            a_writer_paused_across_truncation_never_acknowledges,
            replicas_never_follow_a_deposed_writers_stale_batch,
            a_lagging_standby_never_applies_a_stale_batch,
            a_lower_elector_term_still_writes_above_the_journal,
            an_expired_lease_stops_acknowledgement,
            retries_after_failover_return_the_first_answer,
            restart_from_checkpoint_gives_the_same_state,
            corrupt_objects_are_reported_with_key_and_offset,
            the_log_is_spread_over_folders,
            a_flat_journal_of_version_1_stays_flat,
            an_unknown_format_is_refused_by_name,
            checkpoints_fall_due_by_entries_or_by_bytes,
            a_checkpoint_bigger_than_the_largest_object_is_written_in_parts,
            concurrent_checkpoint_writers_at_one_slot_agree,
            truncation_lists_only_the_folders_it_has_not_swept,
        );
    };
    (@tests $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                $crate::testkit::journal::$name($fixture().await).await;
            }
        )*
    };
}
