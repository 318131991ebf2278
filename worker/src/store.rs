//! The block store: tiers of block files, memory first. The memory tier is a folder on a tmpfs,
//! so blocks live in memory and a client on this host can read a block's file in place
//! (short-circuit); an optional disk tier below it takes the blocks memory evicts. Blocks being
//! written go to the memory tier's `tmp/` and are renamed into place when complete, so a block
//! file is always whole. Space is reserved as bytes arrive; when a tier is full its least recently
//! used blocks move down a tier. A block that cannot move down is dropped only when its file is
//! PERSISTED (the master says so: at registration, commit and heartbeats), since its data is
//! then in an under-file-system and is read from there again; any other block may be the only
//! copy of its file's data, so a write that does not fit is refused instead, and space comes back
//! when files are deleted or persisted. A request that could not fit is refused before anything
//! moves, and a block whose move down fails stays where it is unless it may be dropped.

use std::collections::HashMap;
use std::fs;
use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

/// Why the store refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// There is no room, and no block may be dropped to make some.
    #[error(
        "the worker is full: {wanted} more bytes do not fit in its memory tier of {capacity} \
         (alluxio.worker.ramdisk.size) or below it, and no block of a file that is not persisted \
         is dropped to make room: each may be its file's only copy (persist or delete files to \
         free space)"
    )]
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

/// One tier: where its block files live and how many bytes it may hold.
#[derive(Debug, Clone)]
pub struct Tier {
    /// Alluxio's alias: `MEM`, `SSD`, `HDD`.
    pub alias: String,
    /// The folder of its block files.
    pub dir: PathBuf,
    /// Its capacity in bytes.
    pub capacity: u64,
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    length: u64,
    last_used: u64,
    tier: usize,
    /// Its file is PERSISTED: it may be dropped to make room.
    persisted: bool,
}

#[derive(Debug, Default)]
struct State {
    blocks: HashMap<u64, Meta>,
    /// Per tier: committed bytes, plus (memory tier) bytes reserved by writes in progress.
    used: Vec<u64>,
    /// A logical clock for LRU.
    clock: u64,
    /// Blocks dropped (evicted or removed) since the master last heard.
    dropped: Vec<u64>,
    /// How many times `usage` was asked (orders the samples the master gets).
    usage_samples: u64,
}

/// A worker's tiers.
#[derive(Debug)]
pub struct BlockStore {
    tiers: Vec<Tier>,
    state: Mutex<State>,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |error| StoreError::Io { what, path: path.to_path_buf(), error }
}

/// Moves a block file to another tier's folder: a rename, or a copy across file systems.
fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if fs::rename(from, to).is_ok() {
        return Ok(());
    }
    let temp = to.with_extension("moving");
    fs::copy(from, &temp)?;
    fs::rename(&temp, to)?;
    fs::remove_file(from)
}

impl BlockStore {
    /// A store with one memory tier in `dir` of `capacity` bytes.
    pub fn memory(dir: impl Into<PathBuf>, capacity: u64) -> Result<BlockStore, StoreError> {
        BlockStore::open(vec![Tier { alias: "MEM".into(), dir: dir.into(), capacity }])
    }

    /// Opens `tiers` (memory first; folders created if missing). Whole blocks found there (a
    /// restarted worker keeps them) are kept; unfinished writes are removed.
    pub fn open(tiers: Vec<Tier>) -> Result<BlockStore, StoreError> {
        let mut state = State { used: vec![0; tiers.len()], ..State::default() };
        for (index, tier) in tiers.iter().enumerate() {
            let temp = tier.dir.join("tmp");
            let _ = fs::remove_dir_all(&temp);
            fs::create_dir_all(&temp).map_err(io("creating", &temp))?;
            for entry in fs::read_dir(&tier.dir).map_err(io("listing", &tier.dir))? {
                let entry = entry.map_err(io("listing", &tier.dir))?;
                let name = entry.file_name();
                let Some(block) = name.to_str().and_then(|n| n.parse::<u64>().ok()) else {
                    continue;
                };
                if state.blocks.contains_key(&block) {
                    let _ = fs::remove_file(entry.path()); // A copy left by an interrupted move.
                    continue;
                }
                let length = entry.metadata().map_err(io("reading", &entry.path()))?.len();
                state.used[index] += length;
                state.clock += 1;
                let meta = Meta { length, last_used: state.clock, tier: index, persisted: false };
                state.blocks.insert(block, meta);
            }
        }
        Ok(BlockStore { tiers, state: Mutex::new(state) })
    }

    /// The tiers, memory first.
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }

    /// The capacity of every tier together.
    pub fn capacity(&self) -> u64 {
        self.tiers.iter().map(|t| t.capacity).sum()
    }

    /// Bytes in use in every tier (cached blocks and writes in progress).
    pub fn used(&self) -> u64 {
        self.state.lock().used.iter().sum()
    }

    /// Bytes in use, and a number that grows with each sample: the master keeps the usage of
    /// the highest, as a heartbeat sampled before a commit may arrive after it.
    pub fn usage(&self) -> (u64, u64) {
        let mut state = self.state.lock();
        state.usage_samples += 1;
        (state.used.iter().sum(), state.usage_samples)
    }

    /// Every cached block with its length.
    pub fn report(&self) -> Vec<(u64, u64)> {
        self.state.lock().blocks.iter().map(|(id, meta)| (*id, meta.length)).collect()
    }

    /// Blocks dropped since the last call (for the next heartbeat).
    pub fn take_dropped(&self) -> Vec<u64> {
        std::mem::take(&mut self.state.lock().dropped)
    }

    fn block_path(&self, tier: usize, block: u64) -> PathBuf {
        self.tiers[tier].dir.join(block.to_string())
    }

    /// A fresh file name for writing `block` (in the memory tier).
    pub fn temp_path(&self, block: u64) -> PathBuf {
        self.tiers[0].dir.join("tmp").join(format!("{block}.{}", uuid::Uuid::new_v4()))
    }

    /// Reserves `bytes` in the memory tier for a write in progress, moving least recently used
    /// blocks down a tier if needed.
    pub fn reserve(&self, bytes: u64) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        self.make_room(&mut state, 0, bytes)?;
        state.used[0] += bytes;
        Ok(())
    }

    /// Frees `bytes` in `tier`: its least recently used blocks move down a tier, or are dropped
    /// when they cannot and their files are persisted (module doc). Refuses at once, changing
    /// nothing, when `bytes` would not fit even so (space reserved by writes in progress stays).
    fn make_room(&self, state: &mut State, tier: usize, bytes: u64) -> Result<(), StoreError> {
        let capacity = self.tiers[tier].capacity;
        let full = || StoreError::Full { wanted: bytes, capacity: self.tiers[0].capacity };
        let in_tier = |meta: &Meta| meta.tier == tier;
        let below = tier + 1;
        if state.used[tier].saturating_sub(self.releasable(state, tier)).saturating_add(bytes)
            > capacity
        {
            return Err(full());
        }
        let mut stuck = Vec::new(); // Blocks that can neither move down nor be dropped.
        while state.used[tier] + bytes > capacity {
            let victim = state
                .blocks
                .iter()
                .filter(|(id, meta)| in_tier(meta) && !stuck.contains(*id))
                .min_by_key(|(_, meta)| meta.last_used)
                .map(|(id, meta)| (*id, *meta));
            let Some((block, meta)) = victim else { return Err(full()) };
            let moved = below < self.tiers.len()
                && self.make_room(state, below, meta.length).is_ok()
                && match move_file(&self.block_path(tier, block), &self.block_path(below, block)) {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::warn!(block, %error, "a block could not move down a tier");
                        false
                    }
                };
            if moved {
                state.used[tier] -= meta.length;
                state.used[below] += meta.length;
                state.blocks.insert(block, Meta { tier: below, ..meta });
                tracing::debug!(block, to = %self.tiers[below].alias, "moved down a tier");
            } else if meta.persisted {
                self.drop_block(state, block, meta);
                tracing::debug!(block, "dropped to make room: its file is persisted");
                metrics::counter!("lode_worker_blocks_evicted_total").increment(1);
            } else {
                stuck.push(block);
            }
        }
        Ok(())
    }

    /// How many bytes of `tier` can be freed: its persisted blocks (dropped), and as many of
    /// the others as the tiers below can take (moved down).
    fn releasable(&self, state: &State, tier: usize) -> u64 {
        let (mut persisted, mut others) = (0u64, 0u64);
        for meta in state.blocks.values().filter(|m| m.tier == tier) {
            if meta.persisted {
                persisted += meta.length;
            } else {
                others += meta.length;
            }
        }
        let below = tier + 1;
        if below == self.tiers.len() {
            return persisted;
        }
        let free_below = self.tiers[below].capacity.saturating_sub(state.used[below]);
        persisted + others.min(free_below.saturating_add(self.releasable(state, below)))
    }

    fn drop_block(&self, state: &mut State, block: u64, meta: Meta) {
        let path = self.block_path(meta.tier, block);
        if let Err(error) = fs::remove_file(&path) {
            tracing::warn!(block, %error, "removing a dropped block's file failed");
        }
        state.blocks.remove(&block);
        state.used[meta.tier] -= meta.length;
        state.dropped.push(block);
    }

    /// Notes that the files of `blocks` are PERSISTED: those cached here may be dropped to make
    /// room. Unknown blocks are ignored.
    pub fn mark_persisted(&self, blocks: impl IntoIterator<Item = u64>) {
        let mut state = self.state.lock();
        for block in blocks {
            if let Some(meta) = state.blocks.get_mut(&block) {
                meta.persisted = true;
            }
        }
    }

    /// Gives back a memory-tier reservation.
    pub fn release(&self, bytes: u64) {
        let mut state = self.state.lock();
        state.used[0] = state.used[0].saturating_sub(bytes);
    }

    /// Moves a finished write into place as `block` in the memory tier, turning its reservation
    /// of `length` bytes into the block's space.
    pub fn commit(&self, block: u64, temp: &Path, length: u64) -> Result<(), StoreError> {
        let mut state = self.state.lock();
        if state.blocks.contains_key(&block) {
            drop(state);
            self.release(length);
            let _ = fs::remove_file(temp);
            return Err(StoreError::Exists(block));
        }
        let target = self.block_path(0, block);
        if let Err(error) = fs::rename(temp, &target) {
            state.used[0] = state.used[0].saturating_sub(length);
            return Err(StoreError::Io { what: "committing", path: target, error });
        }
        state.clock += 1;
        let last_used = state.clock;
        state.blocks.insert(block, Meta { length, last_used, tier: 0, persisted: false });
        // Cached again (a cold read of a freed block) before the master heard it was dropped:
        // reporting the drop now would make the master forget this copy, which nothing would
        // then free or read.
        state.dropped.retain(|dropped| *dropped != block);
        Ok(())
    }

    /// The file and length of a cached block, marking it used.
    pub fn open_block(&self, block: u64) -> Option<(PathBuf, u64)> {
        let mut state = self.state.lock();
        state.clock += 1;
        let clock = state.clock;
        let meta = state.blocks.get_mut(&block)?;
        meta.last_used = clock;
        let (tier, length) = (meta.tier, meta.length);
        Some((self.block_path(tier, block), length))
    }

    /// [`Self::open_block`] for a read: a block whose file is gone from under the worker (an
    /// operator's `rm`, a failed disk) is dropped and reported dropped, so the master stops
    /// sending readers here for it, and `None` is returned. (Checked under the lock: a block
    /// moving down a tier is never taken for a lost one.)
    pub fn open_existing(&self, block: u64) -> Option<(PathBuf, u64)> {
        let mut state = self.state.lock();
        let meta = *state.blocks.get(&block)?;
        let path = self.block_path(meta.tier, block);
        if !path.exists() {
            tracing::warn!(block, path = %path.display(), "a block's file is gone: dropped");
            state.blocks.remove(&block);
            state.used[meta.tier] = state.used[meta.tier].saturating_sub(meta.length);
            state.dropped.push(block);
            return None;
        }
        state.clock += 1;
        let clock = state.clock;
        if let Some(meta) = state.blocks.get_mut(&block) {
            meta.last_used = clock;
        }
        Some((path, meta.length))
    }

    /// The whole of cached block `block`, mapped from its file rather than copied; `None` when
    /// it is not cached. Blocking (the mapping is filled at once).
    pub fn map_block(&self, block: u64) -> Option<std::io::Result<bytes::Bytes>> {
        let (path, length) = self.open_existing(block)?;
        let mapped = fs::File::open(&path).and_then(|file| {
            let size = file.metadata()?.len();
            if size != length {
                // Mapping past a file's end would fault on access: refuse instead.
                return Err(std::io::Error::other(format!(
                    "{} holds {size} bytes, not block {block}'s {length}",
                    path.display()
                )));
            }
            if length == 0 {
                return Ok(bytes::Bytes::new());
            }
            // SAFETY: block files are written whole under another name, renamed into place and
            // never modified or truncated afterwards; removal or a move down a tier unlinks the
            // file, which leaves a mapping intact.
            let map =
                unsafe { memmap2::MmapOptions::new().len(length as usize).populate().map(&file) }?;
            Ok(bytes::Bytes::from_owner(map))
        });
        // Gone between the lookup and the open: not cached after all.
        match mapped {
            Err(error) if error.kind() == IoKind::NotFound => None,
            mapped => Some(mapped),
        }
    }

    /// Drops a block (the master's command or a client's request); `false` if absent.
    pub fn remove(&self, block: u64) -> bool {
        let mut state = self.state.lock();
        let Some(meta) = state.blocks.remove(&block) else {
            return false;
        };
        state.used[meta.tier] -= meta.length;
        state.dropped.push(block);
        match fs::remove_file(self.block_path(meta.tier, block)) {
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
        let store = BlockStore::memory(dir.path(), 100).unwrap();
        write(&store, 7, b"seven").unwrap();
        fs::write(store.temp_path(8), b"half").unwrap();
        let reopened = BlockStore::memory(dir.path(), 100).unwrap();
        assert_eq!(reopened.report(), vec![(7, 5)]);
        assert_eq!(reopened.used(), 5);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    /// A full worker drops no block to make room (each may be its file's only copy): the write
    /// is refused naming why, every block stays, and deleting one makes room.
    #[test]
    fn a_full_worker_refuses_a_write_and_drops_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlockStore::memory(dir.path(), 10).unwrap();
        write(&store, 1, b"aaaa").unwrap();
        write(&store, 2, b"bbbb").unwrap();
        let refused = write(&store, 3, b"cccc").unwrap_err();
        assert!(refused.to_string().contains("each may be its file's only copy"), "{refused}");
        let mut cached: Vec<u64> = store.report().iter().map(|b| b.0).collect();
        cached.sort();
        assert_eq!(cached, vec![1, 2]);
        assert!(store.take_dropped().is_empty(), "a block was dropped");
        assert_eq!(store.used(), 8);
        assert!(store.remove(2));
        write(&store, 3, b"cccc").unwrap();
    }

    /// A block removed and cached again before the next heartbeat is not reported dropped: the
    /// master would forget the new copy.
    #[test]
    fn a_block_cached_again_is_not_reported_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlockStore::memory(dir.path(), 12).unwrap();
        write(&store, 1, b"aaaa").unwrap();
        write(&store, 2, b"bbbb").unwrap();
        assert!(store.remove(1) && store.remove(2));
        write(&store, 1, b"aaaa").unwrap();
        assert_eq!(store.take_dropped(), vec![2]);
        assert!(store.open_block(1).is_some());
    }

    /// A store of 8 bytes of memory in `memory` over 8 bytes of disk in `disk`.
    fn two_tiers(memory: &Path, disk: &Path) -> BlockStore {
        let tier = |alias: &str, dir: &Path| Tier {
            alias: alias.into(),
            dir: dir.to_path_buf(),
            capacity: 8,
        };
        BlockStore::open(vec![tier("MEM", memory), tier("SSD", disk)]).unwrap()
    }

    /// A block whose file was deleted from under the worker is dropped and reported dropped
    /// when read; one that moved down a tier is found there.
    #[test]
    fn a_block_whose_file_is_gone_is_dropped_when_read() {
        let (memory, disk) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store = two_tiers(memory.path(), disk.path());
        for (block, bytes) in [(1, b"aaaa"), (2, b"bbbb"), (3, b"cccc")] {
            write(&store, block, bytes).unwrap();
        }
        assert_eq!(store.open_existing(1).unwrap().0, disk.path().join("1"), "moved down");
        fs::remove_file(memory.path().join("3")).unwrap();
        assert!(store.open_existing(3).is_none());
        assert_eq!(store.take_dropped(), vec![3]);
        assert!(store.open_block(3).is_none(), "still listed");
        assert_eq!(store.used(), 8);
        assert!(store.map_block(2).unwrap().unwrap() == b"bbbb"[..]);
    }

    /// A full worker drops the least recently used blocks of persisted files to make room, and
    /// never a block whose file is not persisted.
    #[test]
    fn a_full_worker_drops_persisted_blocks_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlockStore::memory(dir.path(), 12).unwrap();
        for (block, bytes) in [(1, b"aaaa"), (2, b"bbbb"), (3, b"cccc")] {
            write(&store, block, bytes).unwrap();
        }
        store.mark_persisted([1, 3, 99]);
        store.open_block(1); // 1 used more recently than 3: 3 goes first.
        write(&store, 4, b"dddd").unwrap();
        assert_eq!(store.take_dropped(), vec![3]);
        write(&store, 5, b"eeee").unwrap();
        assert_eq!(store.take_dropped(), vec![1]);
        assert!(!dir.path().join("1").exists(), "a dropped block's file stays");
        let refused = write(&store, 6, b"ffff").unwrap_err();
        assert!(refused.to_string().contains("each may be its file's only copy"), "{refused}");
        let mut cached: Vec<u64> = store.report().iter().map(|b| b.0).collect();
        cached.sort();
        assert_eq!(cached, vec![2, 4, 5]);
        assert_eq!(store.used(), 12);
    }

    /// A disk tier takes the least recently used blocks memory moves down; when both are full a
    /// write is refused before anything moves, and no tier drops a block.
    #[test]
    fn a_disk_tier_takes_what_memory_moves_down_and_nothing_is_dropped() {
        let (memory, disk) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store = two_tiers(memory.path(), disk.path());
        for (block, bytes) in [(1, b"aaaa"), (2, b"bbbb"), (3, b"cccc"), (4, b"dddd")] {
            write(&store, block, bytes).unwrap();
        }
        // 1 and 2 moved to disk; nothing dropped.
        assert_eq!(store.open_block(1).unwrap().0, disk.path().join("1"));
        assert_eq!(fs::read(store.open_block(2).unwrap().0).unwrap(), b"bbbb");
        assert_eq!(store.open_block(4).unwrap().0, memory.path().join("4"));
        assert!(matches!(write(&store, 5, b"eeee"), Err(StoreError::Full { .. })));
        assert!(store.take_dropped().is_empty(), "a block was dropped");
        assert_eq!(store.open_block(3).unwrap().0, memory.path().join("3"), "3 moved for nothing");
        assert_eq!(store.used(), 16);
        let reopened = two_tiers(memory.path(), disk.path());
        let mut cached: Vec<u64> = reopened.report().iter().map(|b| b.0).collect();
        cached.sort();
        assert_eq!(cached, vec![1, 2, 3, 4]);
    }

    /// A reservation that cannot fit even with every block gone is refused before anything is
    /// evicted: one request cannot empty a worker.
    #[test]
    fn a_reservation_that_cannot_fit_evicts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlockStore::memory(dir.path(), 10).unwrap();
        write(&store, 1, b"aaaa").unwrap();
        write(&store, 2, b"bbbb").unwrap();
        for wanted in [11, u64::MAX / 2, u64::MAX] {
            assert!(matches!(store.reserve(wanted), Err(StoreError::Full { .. })), "{wanted}");
        }
        store.reserve(2).unwrap(); // A write in progress: 2 of the 10 bytes are not evictable.
        assert!(matches!(store.reserve(9), Err(StoreError::Full { .. })));
        assert!(store.take_dropped().is_empty(), "refused reservations evicted blocks");
        assert_eq!(store.report().len(), 2);
    }

    /// A block whose move to the tier below fails stays cached where it was; the write that
    /// needed the room is refused instead.
    #[test]
    fn a_block_whose_move_down_fails_is_kept() {
        let (memory, disk) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store = two_tiers(memory.path(), disk.path());
        write(&store, 1, b"aaaa").unwrap();
        write(&store, 2, b"bbbb").unwrap();
        fs::remove_dir_all(disk.path()).unwrap(); // Every move down fails now.
        assert!(write(&store, 3, b"cccc").is_err());
        assert!(store.take_dropped().is_empty(), "a block was dropped when its move failed");
        assert_eq!(fs::read(store.open_block(1).unwrap().0).unwrap(), b"aaaa");
        assert_eq!(fs::read(store.open_block(2).unwrap().0).unwrap(), b"bbbb");
    }

    #[test]
    fn a_block_larger_than_the_tier_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlockStore::memory(dir.path(), 10).unwrap();
        let error = write(&store, 1, &[0; 11]).unwrap_err().to_string();
        assert!(error.contains("alluxio.worker.ramdisk.size"), "{error}");
        assert_eq!(store.used(), 0);
    }
}
