//! The `JournalStore` and journal protocol conformance suites on the `local` store.

use lode_core::testkit::local_fixture;

lode_core::journal_store_conformance!(local_fixture);
lode_core::journal_protocol_conformance!(local_fixture);
