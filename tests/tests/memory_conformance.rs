//! The `appendable` capability's conformance suite and the journal protocol over segments, on
//! the in-memory appendable store: the segment protocol's checks without a service.

use lode_core::testkit::memory_fixture;

lode_core::appendable_store_conformance!(memory_fixture);
