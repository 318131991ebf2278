//! Which worker caches which block: soft state (DESIGN §5). Never journaled — the leader builds
//! it from the workers' registrations, so a new leader starts empty and workers re-register the
//! moment they see it. Blocks whose files are gone are queued for removal on their workers.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// A registered worker.
#[derive(Debug, Clone)]
pub struct Worker {
    /// The id handed out at registration.
    pub id: i64,
    /// Where clients reach it (`host`, RPC port).
    pub host: String,
    /// Its RPC port.
    pub port: u16,
    /// Its web UI's port, when it has one.
    pub web_port: Option<u16>,
    /// Bytes it may cache.
    pub capacity: u64,
    /// Bytes it caches.
    pub used: u64,
    /// The sample `used` came from (see [`Usage`]).
    used_sample: u64,
    /// When it started, ms since the epoch.
    pub start_time_ms: i64,
    /// When it was last heard from.
    pub last_contact: Instant,
    blocks: HashSet<u64>,
    /// Blocks it should drop, sent with the next heartbeat answer.
    removals: Vec<u64>,
    /// Blocks it holds whose files became PERSISTED, sent with the next heartbeat answer.
    persisted: Vec<u64>,
}

/// A worker's bytes in use, and the number ordering its samples: calls sampled in one order can
/// arrive in another, and the master keeps the newest sample (0: a worker that does not number
/// them; always taken).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes in use.
    pub bytes: u64,
    /// Which sample.
    pub sample: u64,
}

impl Worker {
    fn set_usage(&mut self, usage: Usage) {
        if usage.sample == 0 || usage.sample >= self.used_sample {
            self.used = usage.bytes;
            self.used_sample = usage.sample;
        }
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// How many blocks it holds.
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }
}

/// What a registration brings.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Host clients use.
    pub host: String,
    /// RPC port.
    pub port: u16,
    /// Web UI port, when it has one.
    pub web_port: Option<u16>,
    /// Bytes it may cache.
    pub capacity: u64,
    /// Bytes it caches.
    pub used: Usage,
    /// Its blocks: (id, length).
    pub blocks: Vec<(u64, u64)>,
    /// When it started.
    pub start_time_ms: i64,
}

/// The leader's block map.
#[derive(Debug, Default)]
pub struct BlockMap {
    workers: HashMap<i64, Worker>,
    /// Block id -> (length, workers holding it).
    blocks: HashMap<u64, (u64, Vec<i64>)>,
}

impl BlockMap {
    /// Forgets everything (a new term starts empty).
    pub fn clear(&mut self) {
        self.workers.clear();
        self.blocks.clear();
    }

    /// Registers a worker with its full block report; a worker already registered at the same
    /// address is replaced. `owned` says whether a block still belongs to a file; the others
    /// are returned for the worker to drop.
    pub fn register(
        &mut self,
        registration: Registration,
        owned: impl Fn(u64) -> bool,
    ) -> (i64, Vec<u64>) {
        let stale: Vec<i64> = self
            .workers
            .values()
            .filter(|w| w.host == registration.host && w.port == registration.port)
            .map(|w| w.id)
            .collect();
        for id in stale {
            self.drop_worker(id);
        }
        let mut id = rand::random::<i64>().abs();
        while id == 0 || self.workers.contains_key(&id) {
            id = rand::random::<i64>().abs();
        }
        let mut removals = Vec::new();
        let mut blocks = HashSet::new();
        for (block, length) in registration.blocks {
            if owned(block) {
                blocks.insert(block);
                self.add_location(block, length, id);
            } else {
                removals.push(block);
            }
        }
        self.workers.insert(
            id,
            Worker {
                id,
                host: registration.host,
                port: registration.port,
                web_port: registration.web_port,
                capacity: registration.capacity,
                used: registration.used.bytes,
                used_sample: registration.used.sample,
                start_time_ms: registration.start_time_ms,
                last_contact: Instant::now(),
                blocks,
                removals: Vec::new(),
                persisted: Vec::new(),
            },
        );
        (id, removals)
    }

    fn add_location(&mut self, block: u64, length: u64, worker: i64) {
        let entry = self.blocks.entry(block).or_insert((length, Vec::new()));
        entry.0 = length;
        if !entry.1.contains(&worker) {
            entry.1.push(worker);
        }
    }

    fn remove_location(&mut self, block: u64, worker: i64) {
        if let Some((_, holders)) = self.blocks.get_mut(&block) {
            holders.retain(|w| *w != worker);
            if holders.is_empty() {
                self.blocks.remove(&block);
            }
        }
    }

    fn drop_worker(&mut self, id: i64) -> Option<Worker> {
        let worker = self.workers.remove(&id)?;
        for block in &worker.blocks {
            self.remove_location(*block, id);
        }
        Some(worker)
    }

    /// A heartbeat: usage and blocks the worker dropped. Returns the blocks it should drop,
    /// or `None` when the worker is unknown and must register again.
    pub fn heartbeat(&mut self, id: i64, used: Usage, removed: &[u64]) -> Option<Vec<u64>> {
        let worker = self.workers.get_mut(&id)?;
        worker.set_usage(used);
        worker.last_contact = Instant::now();
        for block in removed {
            worker.blocks.remove(block);
        }
        let removals = std::mem::take(&mut worker.removals);
        for block in removed {
            self.remove_location(*block, id);
        }
        Some(removals)
    }

    /// A block a worker finished writing. `false` when the worker is unknown.
    pub fn commit(&mut self, id: i64, block: u64, length: u64, used: Usage) -> bool {
        let Some(worker) = self.workers.get_mut(&id) else {
            return false;
        };
        worker.set_usage(used);
        worker.last_contact = Instant::now();
        worker.blocks.insert(block);
        self.add_location(block, length, id);
        true
    }

    /// The committed length of `block` and the workers holding it.
    pub fn locations(&self, block: u64) -> Option<(u64, Vec<&Worker>)> {
        let (length, holders) = self.blocks.get(&block)?;
        Some((*length, holders.iter().filter_map(|id| self.workers.get(id)).collect()))
    }

    /// Tells every worker holding one of `blocks` that its file is PERSISTED (with their next
    /// heartbeat answers).
    pub fn note_persisted(&mut self, blocks: &[u64]) {
        for block in blocks {
            let Some((_, holders)) = self.blocks.get(block) else { continue };
            for id in holders {
                if let Some(worker) = self.workers.get_mut(id) {
                    worker.persisted.push(*block);
                }
            }
        }
    }

    /// The blocks worker `worker` is to hear are persisted, taken.
    pub fn take_persisted(&mut self, worker: i64) -> Vec<u64> {
        self.workers.get_mut(&worker).map(|w| std::mem::take(&mut w.persisted)).unwrap_or_default()
    }

    /// Whether `worker` is registered (not restarted under a new id, not expired).
    pub fn is_registered(&self, worker: i64) -> bool {
        self.workers.contains_key(&worker)
    }

    /// Whether `worker` holds `block`.
    pub fn holds(&self, worker: i64, block: u64) -> bool {
        self.workers.get(&worker).is_some_and(|w| w.blocks.contains(&block))
    }

    /// Whether some worker holds `block`.
    pub fn is_cached(&self, block: u64) -> bool {
        self.blocks.get(&block).is_some_and(|(_, holders)| !holders.is_empty())
    }

    /// Drops workers not heard from within `timeout`, with their blocks; returns them.
    pub fn expire(&mut self, timeout: Duration) -> Vec<Worker> {
        let silent: Vec<i64> = self
            .workers
            .values()
            .filter(|w| w.last_contact.elapsed() > timeout)
            .map(|w| w.id)
            .collect();
        silent.into_iter().filter_map(|id| self.drop_worker(id)).collect()
    }

    /// Queues every block whose file is gone for removal on its workers, and forgets it.
    pub fn sweep(&mut self, owned: impl Fn(u64) -> bool) -> usize {
        let orphans: Vec<u64> = self.blocks.keys().copied().filter(|b| !owned(*b)).collect();
        for block in &orphans {
            if let Some((_, holders)) = self.blocks.remove(block) {
                for id in holders {
                    if let Some(worker) = self.workers.get_mut(&id) {
                        worker.blocks.remove(block);
                        worker.removals.push(*block);
                    }
                }
            }
        }
        orphans.len()
    }

    /// Drops `blocks` from every worker holding them (sent with the next heartbeat answers);
    /// returns how many copies go.
    pub fn free(&mut self, blocks: &[u64]) -> usize {
        let mut freed = 0;
        for block in blocks {
            if let Some((_, holders)) = self.blocks.remove(block) {
                for id in holders {
                    if let Some(worker) = self.workers.get_mut(&id) {
                        worker.blocks.remove(block);
                        worker.removals.push(*block);
                        freed += 1;
                    }
                }
            }
        }
        freed
    }

    /// The registered workers, by id.
    pub fn workers(&self) -> Vec<&Worker> {
        let mut all: Vec<&Worker> = self.workers.values().collect();
        all.sort_by_key(|w| w.id);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(port: u16, blocks: Vec<(u64, u64)>) -> Registration {
        Registration {
            host: "w".into(),
            port,
            web_port: None,
            capacity: 100,
            used: Usage { bytes: 10, sample: 0 },
            blocks,
            start_time_ms: 1,
        }
    }

    /// A usage sampled before another but arriving after it does not replace it.
    #[test]
    fn an_older_usage_sample_does_not_replace_a_newer_one() {
        let mut map = BlockMap::default();
        let (id, _) = map.register(registration(1, vec![]), |_| true);
        let usage = |bytes, sample| Usage { bytes, sample };
        assert!(map.commit(id, 7, 5, usage(3, 5)));
        map.heartbeat(id, usage(10, 4), &[]).unwrap();
        assert_eq!(map.workers()[0].used, 3);
        map.heartbeat(id, usage(8, 6), &[]).unwrap();
        assert_eq!(map.workers()[0].used, 8);
    }

    #[test]
    fn registration_reports_locations_and_orphans() {
        let mut map = BlockMap::default();
        let (id, removals) = map.register(registration(1, vec![(7, 5), (8, 5)]), |b| b == 7);
        assert_eq!(removals, vec![8]);
        let (length, holders) = map.locations(7).unwrap();
        assert_eq!((length, holders[0].id), (5, id));
        assert!(map.locations(8).is_none());
    }

    #[test]
    fn reregistering_at_the_same_address_replaces_the_old_entry() {
        let mut map = BlockMap::default();
        let (old, _) = map.register(registration(1, vec![(7, 5)]), |_| true);
        let (new, _) = map.register(registration(1, vec![]), |_| true);
        assert_ne!(old, new);
        assert!(
            map.heartbeat(old, Usage { bytes: 0, sample: 0 }, &[]).is_none(),
            "the old id must register again"
        );
        assert!(map.locations(7).is_none());
        assert_eq!(map.workers().len(), 1);
    }

    #[test]
    fn silent_workers_expire_with_their_blocks() {
        let mut map = BlockMap::default();
        let (id, _) = map.register(registration(1, vec![(7, 5)]), |_| true);
        assert!(map.expire(Duration::from_secs(60)).is_empty());
        let expired = map.expire(Duration::ZERO);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].id, id);
        assert!(map.locations(7).is_none());
    }

    #[test]
    fn freed_blocks_leave_their_workers_and_the_map() {
        let mut map = BlockMap::default();
        let (a, _) = map.register(registration(1, vec![(7, 5), (9, 5)]), |_| true);
        let (b, _) = map.register(registration(2, vec![(7, 5)]), |_| true);
        assert_eq!(map.free(&[7, 8]), 2);
        assert!(map.locations(7).is_none());
        assert_eq!(map.heartbeat(a, Usage { bytes: 0, sample: 0 }, &[]).unwrap(), vec![7]);
        assert_eq!(map.heartbeat(b, Usage { bytes: 0, sample: 0 }, &[]).unwrap(), vec![7]);
        assert!(map.locations(9).is_some());
    }

    #[test]
    fn orphans_are_queued_for_removal_on_their_workers() {
        let mut map = BlockMap::default();
        let (id, _) = map.register(registration(1, vec![]), |_| true);
        assert!(map.commit(id, 7, 5, Usage { bytes: 5, sample: 0 }));
        assert!(map.commit(id, 8, 5, Usage { bytes: 10, sample: 0 }));
        assert_eq!(map.sweep(|b| b == 8), 1);
        assert_eq!(map.heartbeat(id, Usage { bytes: 5, sample: 0 }, &[]).unwrap(), vec![7]);
        assert_eq!(
            map.heartbeat(id, Usage { bytes: 5, sample: 0 }, &[]).unwrap(),
            Vec::<u64>::new()
        );
        assert!(map.locations(8).is_some());
    }
}
