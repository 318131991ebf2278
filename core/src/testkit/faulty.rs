//! `FaultyStore`: wraps a real store and injects the faults of a flaky network — a put whose
//! answer is lost after it landed, a put that failed ambiguously without landing, a put that
//! raced with another writer — so the journal's handling of each can be tested on any backend.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::store::{Capabilities, JournalStore, StoreError};

/// A fault to inject into the next `put_if_absent`.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Perform the put, then report [`StoreError::Ambiguous`] (the answer was lost).
    LandThenAmbiguous,
    /// Do not perform the put; report [`StoreError::Ambiguous`] (the request was lost).
    DropThenAmbiguous,
    /// Put these other bytes first (a competing writer), then report ambiguity.
    OtherWriterThenAmbiguous(Vec<u8>),
    /// Perform the put, then report [`StoreError::NotDurable`] (its fsync failed, though the
    /// object reads back).
    LandThenNotDurable,
    /// Perform the put, then never answer (a hung fsync of the folder after the link): the
    /// object reads back, but the call does not return.
    LandThenHang,
    /// Do not perform the put; report [`StoreError::Unavailable`] (a failure without effect).
    Refuse,
}

/// A store that injects queued [`Fault`]s into puts and passes everything else through.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn JournalStore>,
    faults: Mutex<VecDeque<Fault>>,
    /// The largest object it takes, when smaller than the inner store's.
    object_limit: Option<u64>,
    /// The prefixes listed, in order, for tests that bound what a pass lists.
    listed: Mutex<Vec<String>>,
}

impl FaultyStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn JournalStore>) -> Arc<FaultyStore> {
        FaultyStore::with_limit(inner, None)
    }

    /// Wraps `inner`, taking no object bigger than `limit` bytes (and saying so in its
    /// capabilities), like an object store with a size limit.
    pub fn limited(inner: Arc<dyn JournalStore>, limit: u64) -> Arc<FaultyStore> {
        FaultyStore::with_limit(inner, Some(limit))
    }

    fn with_limit(inner: Arc<dyn JournalStore>, object_limit: Option<u64>) -> Arc<FaultyStore> {
        let (faults, listed) = Default::default();
        Arc::new(FaultyStore { inner, faults, object_limit, listed })
    }

    /// The prefixes listed since the last call, in order.
    pub fn take_listed(&self) -> Vec<String> {
        std::mem::take(&mut *self.listed.lock())
    }

    /// Queues a fault for a coming put.
    pub fn inject(&self, fault: Fault) {
        self.faults.lock().push_back(fault);
    }

    fn ambiguous(&self, key: &str) -> StoreError {
        StoreError::Ambiguous {
            operation: "put",
            key: key.into(),
            store: self.location(),
            message: "injected: the answer was lost".into(),
        }
    }
}

#[async_trait]
impl JournalStore for FaultyStore {
    fn capabilities(&self) -> Capabilities {
        let inner = self.inner.capabilities();
        let max_object_size = self
            .object_limit
            .map_or(inner.max_object_size, |limit| limit.min(inner.max_object_size));
        Capabilities { max_object_size, ..inner }
    }

    fn location(&self) -> String {
        format!("faulty+{}", self.inner.location())
    }

    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        if let Some(limit) = self.object_limit.filter(|limit| bytes.len() as u64 > *limit) {
            return Err(StoreError::Invalid {
                store: self.location(),
                message: format!("object {key} has {} bytes; the most is {limit}", bytes.len()),
            });
        }
        let fault = self.faults.lock().pop_front();
        match fault {
            None => self.inner.put_if_absent(key, bytes).await,
            Some(Fault::LandThenAmbiguous) => {
                self.inner.put_if_absent(key, bytes).await?;
                Err(self.ambiguous(key))
            }
            Some(Fault::DropThenAmbiguous) => Err(self.ambiguous(key)),
            Some(Fault::OtherWriterThenAmbiguous(other)) => {
                self.inner.put_if_absent(key, other).await?;
                Err(self.ambiguous(key))
            }
            Some(Fault::LandThenNotDurable) => {
                self.inner.put_if_absent(key, bytes).await?;
                Err(StoreError::NotDurable {
                    operation: "put",
                    key: key.into(),
                    store: self.location(),
                    message: "injected: fsync failed (EIO)".into(),
                })
            }
            Some(Fault::Refuse) => Err(StoreError::Unavailable {
                operation: "put",
                key: key.into(),
                store: self.location(),
                message: "injected: refused".into(),
            }),
            Some(Fault::LandThenHang) => {
                self.inner.put_if_absent(key, bytes).await?;
                std::future::pending().await
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key).await
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.inner.exists(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.listed.lock().push(prefix.to_string());
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }

    async fn clean_temporary(&self, older_than: Duration) -> Result<usize, StoreError> {
        self.inner.clean_temporary(older_than).await
    }
}
