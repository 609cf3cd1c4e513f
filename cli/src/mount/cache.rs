//! The local block cache under `--cache-dir`: file content in fixed blocks, keyed by the
//! version's content hash and block number (so a new version never serves an old block), each
//! checked against the blake3 recorded when it was fetched (a damaged entry is dropped and
//! fetched again, never served), evicted least recently used past `--cache-mib`. Also the
//! read-ahead window: sequential reads double it, a jump resets it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// Bytes per cached block (and per range request).
pub const BLOCK_BYTES: u64 = 4 * 1024 * 1024;

/// A block: the version's content hash (hex) and the block number.
pub type Key = (String, u64);

struct Entry {
    len: u64,
    hash: blake3::Hash,
    used: u64,
}

struct Index {
    entries: HashMap<Key, Entry>,
    bytes: u64,
    tick: u64,
}

/// A bounded on-disk block cache.
pub struct BlockCache {
    dir: PathBuf,
    capacity_bytes: u64,
    index: Mutex<Index>,
}

impl BlockCache {
    /// A cache of at most `capacity_bytes` in `dir` (created; emptied of old blocks).
    pub fn new(dir: PathBuf, capacity_bytes: u64) -> std::io::Result<Self> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let index = Index { entries: HashMap::new(), bytes: 0, tick: 0 };
        Ok(Self { dir, capacity_bytes, index: Mutex::new(index) })
    }

    fn file(&self, key: &Key) -> PathBuf {
        self.dir.join(format!("{}-{}", key.0, key.1))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The block, if cached and intact; a damaged one is dropped (the caller fetches it again).
    pub fn get(&self, key: &Key) -> Option<Vec<u8>> {
        let expected = {
            let mut index = self.lock();
            index.tick += 1;
            let tick = index.tick;
            let entry = index.entries.get_mut(key)?;
            entry.used = tick;
            (entry.hash, entry.len)
        };
        let bytes = std::fs::read(self.file(key)).ok();
        match bytes {
            Some(bytes)
                if bytes.len() as u64 == expected.1 && blake3::hash(&bytes) == expected.0 =>
            {
                Some(bytes)
            }
            _ => {
                tracing::warn!(block = key.1, "cached block damaged or missing; fetching it again");
                self.remove(key);
                None
            }
        }
    }

    fn remove(&self, key: &Key) {
        let mut index = self.lock();
        if let Some(entry) = index.entries.remove(key) {
            index.bytes -= entry.len;
        }
        let _ = std::fs::remove_file(self.file(key));
    }

    /// Stores a block just fetched (verified by the caller against the version it belongs to).
    pub fn put(&self, key: &Key, bytes: &[u8]) {
        let len = bytes.len() as u64;
        if len > self.capacity_bytes {
            return;
        }
        let file = self.file(key);
        let temp = file.with_extension("tmp");
        if std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, &file)).is_err() {
            let _ = std::fs::remove_file(&temp);
            return;
        }
        let mut index = self.lock();
        index.tick += 1;
        let entry = Entry { len, hash: blake3::hash(bytes), used: index.tick };
        if let Some(old) = index.entries.insert(key.clone(), entry) {
            index.bytes -= old.len;
        }
        index.bytes += len;
        let over = index.bytes.saturating_sub(self.capacity_bytes);
        let victims = oldest_covering(
            index.entries.iter().filter(|(k, _)| *k != key).map(|(k, e)| (k, e.used, e.len)),
            over,
        );
        for victim in victims {
            if let Some(entry) = index.entries.remove(&victim) {
                index.bytes -= entry.len;
                let _ = std::fs::remove_file(self.file(&victim));
            }
        }
    }

    /// Bytes held.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }
}

/// The least recently used entries whose lengths add up to at least `over` bytes.
pub fn oldest_covering<'a>(
    entries: impl Iterator<Item = (&'a Key, u64, u64)>,
    over: u64,
) -> Vec<Key> {
    if over == 0 {
        return Vec::new();
    }
    let mut all: Vec<(&Key, u64, u64)> = entries.collect();
    all.sort_by_key(|(_, used, _)| *used);
    let mut freed = 0;
    let mut out = Vec::new();
    for (key, _, len) in all {
        if freed >= over {
            break;
        }
        freed += len;
        out.push(key.clone());
    }
    out
}

/// Blocks read ahead at first and at most.
pub const AHEAD_BLOCKS: (u64, u64) = (1, 4);

/// The read-ahead state of one open file.
#[derive(Clone, Debug, Default)]
pub struct ReadAhead {
    next_offset: u64,
    window: u64,
}

impl ReadAhead {
    /// A read of `len` bytes at `offset` in a file of `size` bytes: the blocks to fetch ahead
    /// (first, end exclusive), empty when the read is not sequential.
    pub fn on_read(&mut self, offset: u64, len: u64, size: u64) -> std::ops::Range<u64> {
        // The kernel sends its own read-ahead requests concurrently, so they may arrive a
        // little out of order: within a block of where the last one ended is still sequential.
        let near = offset <= self.next_offset.saturating_add(BLOCK_BYTES)
            && offset.saturating_add(BLOCK_BYTES) >= self.next_offset;
        let sequential = offset == 0 && len > 0 || self.next_offset > 0 && near;
        self.next_offset =
            if sequential { self.next_offset.max(offset + len) } else { offset + len };
        if !sequential {
            self.window = 0;
            return 0..0;
        }
        self.window = (self.window * 2).clamp(AHEAD_BLOCKS.0, AHEAD_BLOCKS.1);
        let blocks = size.div_ceil(BLOCK_BYTES);
        let first = (offset + len).div_ceil(BLOCK_BYTES);
        first.min(blocks)..(first + self.window).min(blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> Key {
        ("h".into(), n)
    }

    #[test]
    fn a_damaged_block_is_dropped_not_served() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = BlockCache::new(dir.path().join("c"), 1 << 20).expect("cache");
        cache.put(&key(0), b"hello");
        assert_eq!(cache.get(&key(0)).as_deref(), Some(&b"hello"[..]));
        std::fs::write(cache.file(&key(0)), b"jello").expect("damage it");
        assert_eq!(cache.get(&key(0)), None, "the damaged copy is not served");
        assert_eq!(cache.bytes(), 0, "and is dropped");
    }

    #[test]
    fn the_cache_stays_within_its_bound_dropping_the_oldest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = BlockCache::new(dir.path().join("c"), 10).expect("cache");
        cache.put(&key(0), b"aaaa");
        cache.put(&key(1), b"bbbb");
        assert!(cache.get(&key(0)).is_some(), "0 is now the most recent");
        cache.put(&key(2), b"cccc");
        assert!(cache.bytes() <= 10);
        assert!(cache.get(&key(1)).is_none(), "the least recently used went");
        assert!(cache.get(&key(0)).is_some() && cache.get(&key(2)).is_some());
    }

    #[test]
    fn victims_cover_the_excess_oldest_first() {
        let (a, b, c) = (key(0), key(1), key(2));
        let entries = [(&a, 3, 4), (&b, 1, 4), (&c, 2, 4)];
        assert_eq!(oldest_covering(entries.into_iter(), 5), vec![b.clone(), c.clone()]);
        assert!(oldest_covering(entries.into_iter(), 0).is_empty());
    }

    #[test]
    fn read_ahead_grows_on_sequential_reads_and_resets_on_a_jump() {
        let size = 100 * BLOCK_BYTES;
        let mut ahead = ReadAhead::default();
        let step = 128 * 1024;
        assert_eq!(ahead.on_read(0, step, size), 1..2);
        assert_eq!(ahead.on_read(step, step, size), 1..3);
        assert_eq!(ahead.on_read(2 * step, step, size), 1..5);
        for i in 3..20 {
            ahead.on_read(i * step, step, size);
        }
        let range = ahead.on_read(20 * step, step, size);
        assert_eq!(range.end - range.start, AHEAD_BLOCKS.1, "capped");
        let at = 21 * step;
        assert!(!ahead.on_read(at + step, step, size).is_empty(), "slightly out of order");
        assert!(!ahead.on_read(at, step, size).is_empty(), "the one before it, late");
        assert_eq!(ahead.on_read(50 * BLOCK_BYTES, step, size), 0..0, "a jump");
        assert_eq!(ahead.on_read(99 * BLOCK_BYTES + 1000, 10, size), 0..0);
        let tail = ahead.on_read(99 * BLOCK_BYTES + 1010, 10, size);
        assert!(tail.is_empty(), "nothing past the end: {tail:?}");
    }
}
