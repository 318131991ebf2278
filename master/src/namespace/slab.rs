//! Inodes by id, in fixed-size chunks indexed by the container id. Container ids are handed out
//! densely, so this is a direct lookup with no hashing and none of a hash table's growth slack;
//! a chunk whose inodes are all deleted is freed.

const CHUNK_BITS: u32 = 10;
const CHUNK: usize = 1 << CHUNK_BITS;

/// A map from container id to value.
#[derive(Debug, Clone)]
pub struct Slab<T> {
    chunks: Vec<Option<Box<[Option<T>]>>>,
    /// Live entries per chunk, to free empty chunks.
    counts: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { chunks: Vec::new(), counts: Vec::new(), len: 0 }
    }
}

fn split(key: u64) -> (usize, usize) {
    ((key >> CHUNK_BITS) as usize, (key as usize) & (CHUNK - 1))
}

impl<T> Slab<T> {
    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The value at `key`.
    pub fn get(&self, key: u64) -> Option<&T> {
        let (chunk, slot) = split(key);
        self.chunks.get(chunk)?.as_ref()?[slot].as_ref()
    }

    /// The value at `key`, mutably.
    pub fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        let (chunk, slot) = split(key);
        self.chunks.get_mut(chunk)?.as_mut()?[slot].as_mut()
    }

    /// Whether `key` has a value.
    pub fn contains(&self, key: u64) -> bool {
        self.get(key).is_some()
    }

    /// Stores `value` at `key`, returning what was there.
    pub fn insert(&mut self, key: u64, value: T) -> Option<T> {
        let (chunk, slot) = split(key);
        if chunk >= self.chunks.len() {
            self.chunks.resize_with(chunk + 1, || None);
            self.counts.resize(chunk + 1, 0);
        }
        let slots = self.chunks[chunk].get_or_insert_with(|| (0..CHUNK).map(|_| None).collect());
        let old = slots[slot].replace(value);
        if old.is_none() {
            self.counts[chunk] += 1;
            self.len += 1;
        }
        old
    }

    /// Removes the value at `key`.
    pub fn remove(&mut self, key: u64) -> Option<T> {
        let (chunk, slot) = split(key);
        let old = self.chunks.get_mut(chunk)?.as_mut()?[slot].take()?;
        self.counts[chunk] -= 1;
        self.len -= 1;
        if self.counts[chunk] == 0 {
            self.chunks[chunk] = None;
        }
        Some(old)
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        self.chunks.iter().enumerate().flat_map(|(chunk, slots)| {
            slots.iter().flat_map(move |slots| {
                slots.iter().enumerate().filter_map(move |(slot, value)| {
                    value.as_ref().map(|v| (((chunk << CHUNK_BITS) | slot) as u64, v))
                })
            })
        })
    }
}

/// Equal when they hold the same entries, however their chunks came to be allocated.
impl<T: PartialEq> PartialEq for Slab<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_and_go_and_empty_chunks_are_freed() {
        let mut slab = Slab::default();
        for key in [0u64, 1, 1023, 1024, 100_000] {
            assert_eq!(slab.insert(key, key * 2), None);
        }
        assert_eq!(slab.insert(1, 7), Some(2));
        assert_eq!((slab.len(), slab.get(1), slab.get(2)), (5, Some(&7), None));
        assert_eq!(slab.iter().map(|(k, _)| k).collect::<Vec<_>>(), [0, 1, 1023, 1024, 100_000]);
        assert_eq!(slab.remove(100_000), Some(200_000));
        assert!(slab.chunks[100_000 >> CHUNK_BITS].is_none(), "an empty chunk is freed");
        assert_eq!(slab.remove(100_000), None);
        let mut other = Slab::default();
        for (key, value) in slab.iter() {
            other.insert(key, *value);
        }
        assert_eq!(other, slab);
        assert_eq!(slab.get(u64::MAX), None);
    }
}
