//! The `appendable` capability (DESIGN §3a): stores that can append to an object and take a
//! writer's hold on it away. The journal keeps its log in such a store as segments — one file of
//! consecutive batches per leader stint — instead of one object per batch: one durable append
//! per batch instead of a whole object.

use async_trait::async_trait;

use super::StoreError;

/// A store whose objects can be appended to, with a seal that fences earlier writers. Offered
/// by a [`JournalStore`](super::JournalStore) through its `appendable` method.
#[async_trait]
pub trait AppendableStore: Send + Sync {
    /// Creates `key` empty and opens it for appending by the caller. Of any number of
    /// concurrent creators of one key exactly one succeeds; the others, and any creator of a
    /// key that exists, get [`StoreError::AlreadyExists`].
    async fn create_exclusive(&self, key: &str) -> Result<Box<dyn Appender>, StoreError>;

    /// Takes every writer's hold on `key` away and returns the object's final length. Once this
    /// returns, no earlier writer can add a byte, and every byte an appender was told is
    /// durable is in the object (bytes it was never told about may be there too, whole or
    /// torn). Sealing a sealed or closed object just returns its length; a missing key is
    /// `Ok(None)`.
    async fn seal(&self, key: &str) -> Result<Option<u64>, StoreError>;

    /// Reads `key` from `offset` to the end every replica acknowledged, at most `max_len`
    /// bytes; `Ok(None)` when there is no such object. What it returns is never taken back by
    /// a later seal.
    async fn read_from(
        &self,
        key: &str,
        offset: u64,
        max_len: u64,
    ) -> Result<Option<Vec<u8>>, StoreError>;
}

/// The open end of an object made by [`AppendableStore::create_exclusive`].
#[async_trait]
pub trait Appender: Send {
    /// Appends `bytes` and returns once every replica holds them durably. An error leaves it
    /// unknown how many of the bytes are in the object; the caller must stop appending.
    async fn append_durable(&mut self, bytes: &[u8]) -> Result<(), StoreError>;

    /// Closes the object: no more appends; what was appended stays.
    async fn close(&mut self) -> Result<(), StoreError>;
}
