//! An in-memory store with the `appendable` capability, for running the segment protocol's
//! checks in core without a service. Its seal behaves as HDFS lease recovery does: appenders
//! created before it fail from then on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::store::{
    validate_key, AppendableStore, Appender, Capabilities, JournalStore, StoreError,
};

#[derive(Debug, Default)]
struct Object {
    bytes: Vec<u8>,
    /// Which appender may still write: the creator's ticket until a seal or close.
    open_for: Option<u64>,
}

#[derive(Debug, Default)]
struct Objects {
    by_key: BTreeMap<String, Object>,
    tickets: u64,
}

/// A journal store in memory, appendable. Cheap to clone; clones share the objects.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    objects: Arc<Mutex<Objects>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Replaces the object at `key` (a test's corruption or torn write).
    pub fn overwrite(&self, key: &str, bytes: Vec<u8>) {
        let mut objects = self.objects.lock();
        let object = objects.by_key.entry(key.to_string()).or_default();
        object.bytes = bytes;
    }
}

#[async_trait]
impl JournalStore for MemoryStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            exclusive_create: true,
            max_object_size: 64 << 20,
            ordered_list: true,
            poll_interval: Duration::from_millis(1),
        }
    }

    fn location(&self) -> String {
        "memory://journal".into()
    }

    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        validate_key(self, key)?;
        let mut objects = self.objects.lock();
        if objects.by_key.contains_key(key) {
            return Err(StoreError::AlreadyExists { key: key.into(), store: self.location() });
        }
        objects.by_key.insert(key.into(), Object { bytes, open_for: None });
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(self, key)?;
        Ok(self.objects.lock().by_key.get(key).map(|object| object.bytes.clone()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .objects
            .lock()
            .by_key
            .keys()
            .filter(|key| key.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(self, key)?;
        self.objects.lock().by_key.remove(key);
        Ok(())
    }

    async fn clean_temporary(&self, _older_than: Duration) -> Result<usize, StoreError> {
        Ok(0)
    }

    fn appendable(&self) -> Option<&dyn AppendableStore> {
        Some(self)
    }
}

#[async_trait]
impl AppendableStore for MemoryStore {
    async fn create_exclusive(&self, key: &str) -> Result<Box<dyn Appender>, StoreError> {
        validate_key(self, key)?;
        let mut objects = self.objects.lock();
        if objects.by_key.contains_key(key) {
            return Err(StoreError::AlreadyExists { key: key.into(), store: self.location() });
        }
        objects.tickets += 1;
        let ticket = objects.tickets;
        objects.by_key.insert(key.into(), Object { bytes: Vec::new(), open_for: Some(ticket) });
        Ok(Box::new(MemoryAppender { store: self.clone(), key: key.into(), ticket }))
    }

    async fn seal(&self, key: &str) -> Result<Option<u64>, StoreError> {
        validate_key(self, key)?;
        let mut objects = self.objects.lock();
        Ok(objects.by_key.get_mut(key).map(|object| {
            object.open_for = None;
            object.bytes.len() as u64
        }))
    }

    async fn read_from(
        &self,
        key: &str,
        offset: u64,
        max_len: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(self, key)?;
        let objects = self.objects.lock();
        Ok(objects.by_key.get(key).map(|object| {
            let start = (offset as usize).min(object.bytes.len());
            let end = start.saturating_add(max_len as usize).min(object.bytes.len());
            object.bytes[start..end].to_vec()
        }))
    }
}

struct MemoryAppender {
    store: MemoryStore,
    key: String,
    ticket: u64,
}

impl MemoryAppender {
    fn refused(&self, why: &str) -> StoreError {
        StoreError::Unavailable {
            operation: "append",
            key: self.key.clone(),
            store: self.store.location(),
            message: why.into(),
        }
    }
}

#[async_trait]
impl Appender for MemoryAppender {
    async fn append_durable(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let mut objects = self.store.objects.lock();
        match objects.by_key.get_mut(&self.key) {
            Some(object) if object.open_for == Some(self.ticket) => {
                object.bytes.extend_from_slice(bytes);
                Ok(())
            }
            Some(_) => Err(self.refused("the object was sealed or closed")),
            None => Err(self.refused("the object was deleted")),
        }
    }

    async fn close(&mut self) -> Result<(), StoreError> {
        let mut objects = self.store.objects.lock();
        match objects.by_key.get_mut(&self.key) {
            Some(object) if object.open_for == Some(self.ticket) => {
                object.open_for = None;
                Ok(())
            }
            _ => Err(self.refused("the object was sealed, closed or deleted")),
        }
    }
}
