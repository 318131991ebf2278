//! The memory tier: one file per block in a folder on a tmpfs, so blocks live in memory and a
//! client on this host can read a block's file in place (short-circuit). Blocks being written
//! go to `tmp/` and are renamed into place when complete, so a block file is always whole.
//! Space is reserved as bytes arrive; when the tier is full, the least recently used blocks are
//! evicted (and reported to the master with the next heartbeat).

use std::collections::HashMap;
use std::fs;
use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

/// Why the store refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Even after evicting every other block there is no room.
    #[error("the memory tier is full: {wanted} more bytes do not fit in {capacity} (alluxio.worker.ramdisk.size)")]
    Full {
        /// Bytes asked for.
        wanted: u64,
        /// The tier's capacity.
        capacity: u64,
    },
    /// The block is already cached here.
    #[error("block {0} is already cached on this worker")]
    Exists(u64),
    /// The file system refused.
    #[error("{what} {}: {error}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    length: u64,
    last_used: u64,
}

#[derive(Debug, Default)]
struct State {
    blocks: HashMap<u64, Meta>,
    /// Committed bytes plus bytes reserved by writes in progress.
    used: u64,
    /// A logical clock for LRU.
    clock: u64,
    /// Blocks dropped (evicted or removed) since the master last heard.
    dropped: Vec<u64>,
}

/// The memory tier of one worker.
#[derive(Debug)]
pub struct BlockStore {
    dir: PathBuf,
    capacity: u64,
    state: Mutex<State>,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |error| StoreError::Io { what, path: path.to_path_buf(), error }
}

impl BlockStore {
    /// Opens the tier in `dir` (created if missing) with `capacity` bytes. Whole blocks found
    /// there (a restarted worker on a tmpfs keeps them) are kept; unfinished writes are removed.
    pub fn open(dir: impl Into<PathBuf>, capacity: u64) -> Result<BlockStore, StoreError> {
        let dir = dir.into();
        let temp = dir.join("tmp");
        let _ = fs::remove_dir_all(&temp);
        fs::create_dir_all(&temp).map_err(io("creating", &temp))?;
        let mut state = State::default();
        for entry in fs::read_dir(&dir).map_err(io("listing", &dir))? {
            let entry = entry.map_err(io("listing", &dir))?;
            let Some(block) = entry.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            let length = entry.metadata().map_err(io("reading", &entry.path()))?.len();
            state.used += length;
            state.clock += 1;
            state.blocks.insert(block, Meta { length, last_used: state.clock });
        }
        Ok(BlockStore { dir, capacity, state: Mutex::new(state) })
    }

    /// The tier's capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes in use (cached blocks and writes in progress).
    pub fn used(&self) -> u64 {
        self.state.lock().used
    }

    /// Every cached block with its length.
    pub fn report(&self) -> Vec<(u64, u64)> {
        self.state.lock().blocks.iter().map(|(id, meta)| (*id, meta.length)).collect()
    }

    /// Blocks dropped since the last call (for the next heartbeat).
    pub fn take_dropped(&self) -> Vec<u64> {
        std::mem::take(&mut self.state.lock().dropped)
    }

    fn block_path(&self, block: u64) -> PathBuf {
        self.dir.join(block.to_string())
    }

    /// A fresh file name for writing `block`.
    pub fn temp_path(&self, block: u64) -> PathBuf {
        self.dir.join("tmp").join(format!("{block}.{}", uuid::Uuid::new_v4()))
    }

    /// Reserves `bytes` for a write in progress, evicting least recently used blocks if needed.
    pub fn reserve(&self, bytes: u64) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        while state.used + bytes > self.capacity {
            let victim =
                state.blocks.iter().min_by_key(|(_, meta)| meta.last_used).map(|(id, _)| *id);
            let Some(victim) = victim else {
                return Err(StoreError::Full { wanted: bytes, capacity: self.capacity });
            };
            let meta = state.blocks.remove(&victim).expect("the victim is cached");
            state.used -= meta.length;
            state.dropped.push(victim);
            let _ = fs::remove_file(self.block_path(victim));
            tracing::debug!(block = victim, "evicted");
        }
        state.used += bytes;
        Ok(())
    }

    /// Gives back a reservation.
    pub fn release(&self, bytes: u64) {
        let mut state = self.state.lock();
        state.used = state.used.saturating_sub(bytes);
    }

    /// Moves a finished write into place as `block`, turning its reservation of `length` bytes
    /// into the block's space.
    pub fn commit(&self, block: u64, temp: &Path, length: u64) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        if state.blocks.contains_key(&block) {
            drop(state);
            self.release(length);
            let _ = fs::remove_file(temp);
            return Err(StoreError::Exists(block));
        }
        let target = self.block_path(block);
        if let Err(error) = fs::rename(temp, &target) {
            state.used = state.used.saturating_sub(length);
            return Err(StoreError::Io { what: "committing", path: target, error });
        }
        state.clock += 1;
        let last_used = state.clock;
        state.blocks.insert(block, Meta { length, last_used });
        Ok(())
    }

    /// The file and length of a cached block, marking it used.
    pub fn open_block(&self, block: u64) -> Option<(PathBuf, u64)> {
        let mut state = self.state.lock();
        state.clock += 1;
        let clock = state.clock;
        let meta = state.blocks.get_mut(&block)?;
        meta.last_used = clock;
        Some((self.block_path(block), meta.length))
    }

    /// Drops a block (the master's command or a client's request); `false` if absent.
    pub fn remove(&self, block: u64) -> bool {
        let mut state = self.state.lock();
        let Some(meta) = state.blocks.remove(&block) else {
            return false;
        };
        state.used -= meta.length;
        state.dropped.push(block);
        match fs::remove_file(self.block_path(block)) {
            Ok(()) => true,
            Err(e) if e.kind() == IoKind::NotFound => true,
            Err(e) => {
                tracing::warn!(block, error = %e, "removing a block file failed");
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(store: &BlockStore, block: u64, bytes: &[u8]) -> Result<(), StoreError> {
        store.reserve(bytes.len() as u64)?;
        let temp = store.temp_path(block);
        fs::write(&temp, bytes).unwrap();
        store.commit(block, &temp, bytes.len() as u64)
    }

    #[test]
    fn blocks_survive_a_reopen_and_partial_writes_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlockStore::open(dir.path(), 100).unwrap();
        write(&store, 7, b"seven").unwrap();
        fs::write(store.temp_path(8), b"half").unwrap();
        let reopened = BlockStore::open(dir.path(), 100).unwrap();
        assert_eq!(reopened.report(), vec![(7, 5)]);
        assert_eq!(reopened.used(), 5);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn the_least_recently_used_block_is_evicted_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlockStore::open(dir.path(), 10).unwrap();
        write(&store, 1, b"aaaa").unwrap();
        write(&store, 2, b"bbbb").unwrap();
        store.open_block(1); // 2 is now the least recently used.
        write(&store, 3, b"cccc").unwrap();
        let mut cached: Vec<u64> = store.report().iter().map(|b| b.0).collect();
        cached.sort();
        assert_eq!(cached, vec![1, 3]);
        assert_eq!(store.take_dropped(), vec![2]);
        assert_eq!(store.used(), 8);
    }

    #[test]
    fn a_block_larger_than_the_tier_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlockStore::open(dir.path(), 10).unwrap();
        let error = write(&store, 1, &[0; 11]).unwrap_err().to_string();
        assert!(error.contains("alluxio.worker.ramdisk.size"), "{error}");
        assert_eq!(store.used(), 0);
    }
}
