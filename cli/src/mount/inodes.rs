//! The inode table: the kernel names files by inode number, the cluster by path. Numbers are
//! handed out on lookup and dropped when the kernel forgets them (bounded by what the kernel
//! holds); a rename moves an entry and everything under it. Also the short-lived attribute
//! cache the listing fills, so `ls -l` or `cp -r` does not stat every entry one by one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The root's inode number (FUSE's).
pub const ROOT: u64 = 1;

/// Readdir rows for entries the kernel has not looked up get a number derived from their path,
/// with this bit set so it never equals one the table hands out.
const SYNTHETIC_BIT: u64 = 1 << 62;

/// Mount-relative path of `name` in folder `parent` (`/` is the root).
pub fn child(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// The parent folder and name of a mount-relative path (`None` for the root).
pub fn split(path: &str) -> Option<(&str, &str)> {
    if path == "/" {
        return None;
    }
    let cut = path.rfind('/')?;
    Some((if cut == 0 { "/" } else { &path[..cut] }, &path[cut + 1..]))
}

struct Node {
    path: String,
    lookups: u64,
}

/// Inode numbers ⇄ mount-relative paths.
pub struct Inodes {
    by_ino: HashMap<u64, Node>,
    by_path: HashMap<String, u64>,
    next: u64,
}

impl Default for Inodes {
    fn default() -> Self {
        Self::new()
    }
}

impl Inodes {
    /// A table holding only the root.
    pub fn new() -> Self {
        let mut table = Self { by_ino: HashMap::new(), by_path: HashMap::new(), next: ROOT + 1 };
        table.by_ino.insert(ROOT, Node { path: "/".into(), lookups: 1 });
        table.by_path.insert("/".into(), ROOT);
        table
    }

    /// The path of `ino`, if the kernel still holds it and it was not removed.
    pub fn path(&self, ino: u64) -> Option<String> {
        self.by_ino.get(&ino).map(|n| n.path.clone()).filter(|p| !p.is_empty())
    }

    /// The number of `path` if it has one.
    pub fn ino_of(&self, path: &str) -> Option<u64> {
        self.by_path.get(path).copied()
    }

    /// A lookup of `path` the kernel will count: its number (new if it had none).
    pub fn lookup(&mut self, path: &str) -> u64 {
        if let Some(&ino) = self.by_path.get(path) {
            if let Some(node) = self.by_ino.get_mut(&ino) {
                node.lookups += 1;
            }
            return ino;
        }
        let ino = self.next;
        self.next += 1;
        self.by_ino.insert(ino, Node { path: path.to_owned(), lookups: 1 });
        self.by_path.insert(path.to_owned(), ino);
        ino
    }

    /// A number for a readdir row: the entry's own if it has one, else one derived from the path.
    pub fn row_ino(&self, path: &str) -> u64 {
        self.ino_of(path).unwrap_or_else(|| {
            let hash = blake3::hash(path.as_bytes());
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&hash.as_bytes()[..8]);
            (u64::from_le_bytes(bytes) >> 2) | SYNTHETIC_BIT
        })
    }

    /// The kernel dropped `n` lookups of `ino`; at zero the number is freed (never the root's).
    pub fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT {
            return;
        }
        let Some(node) = self.by_ino.get_mut(&ino) else { return };
        node.lookups = node.lookups.saturating_sub(n);
        if node.lookups == 0 {
            let path = std::mem::take(&mut node.path);
            self.by_ino.remove(&ino);
            if self.by_path.get(&path) == Some(&ino) {
                self.by_path.remove(&path);
            }
        }
    }

    /// `path` is gone (unlinked, or replaced by a rename): its number, if any, names nothing now.
    pub fn detach(&mut self, path: &str) {
        if let Some(ino) = self.by_path.remove(path) {
            if let Some(node) = self.by_ino.get_mut(&ino) {
                node.path.clear();
            }
        }
    }

    /// `from` was renamed to `to`: it and everything under it move (whatever was at `to` is
    /// detached first).
    pub fn rename(&mut self, from: &str, to: &str) {
        self.detach(to);
        let prefix = format!("{from}/");
        let moved: Vec<(String, u64)> = self
            .by_path
            .iter()
            .filter(|(p, _)| p.as_str() == from || p.starts_with(&prefix))
            .map(|(p, &i)| (p.clone(), i))
            .collect();
        for (old, ino) in moved {
            self.by_path.remove(&old);
            let new = format!("{to}{}", &old[from.len()..]);
            if let Some(node) = self.by_ino.get_mut(&ino) {
                node.path = new.clone();
            }
            self.by_path.insert(new, ino);
        }
    }

    /// How many numbers are held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_ino.len()
    }
}

/// What the namespace says about one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// A folder (else a file).
    pub folder: bool,
    /// The latest version's length.
    pub size: u64,
    /// The latest version.
    pub version: Option<u64>,
    /// The latest version's blake3 (hex).
    pub hash: Option<String>,
    /// When the latest version was written (ms since the epoch; 0: unknown).
    pub mtime_ms: u64,
}

/// Entries the cache holds at most; past it, it starts over (it is only a shortcut).
const ATTRS_MAX: usize = 50_000;

/// Recently seen entries (`None`: known absent), trusted for a short time.
pub struct AttrCache {
    ttl: Duration,
    entries: HashMap<String, (Option<Meta>, Instant)>,
}

impl AttrCache {
    /// A cache trusting entries for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: HashMap::new() }
    }

    /// What is known of `path`, if still fresh at `now`: `Some(None)` is known absent.
    pub fn get(&self, path: &str, now: Instant) -> Option<Option<Meta>> {
        let (meta, at) = self.entries.get(path)?;
        (now.saturating_duration_since(*at) < self.ttl).then(|| meta.clone())
    }

    /// Records `meta` (or absence) for `path` as of `now`.
    pub fn put(&mut self, path: &str, meta: Option<Meta>, now: Instant) {
        if self.entries.len() >= ATTRS_MAX {
            self.entries.clear();
        }
        self.entries.insert(path.to_owned(), (meta, now));
    }

    /// Forgets `path` and everything under it.
    pub fn invalidate(&mut self, path: &str) {
        let prefix = format!("{path}/");
        self.entries.retain(|p, _| p != path && !p.starts_with(&prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_counted_and_forgotten() {
        let mut table = Inodes::new();
        let a = table.lookup("/a");
        assert_eq!(table.lookup("/a"), a, "one number per path");
        table.forget(a, 1);
        assert_eq!(table.path(a).as_deref(), Some("/a"), "one lookup left");
        table.forget(a, 1);
        assert_eq!(table.path(a), None);
        assert_eq!(table.ino_of("/a"), None);
        assert_ne!(table.lookup("/a"), a, "numbers are not reused");
        table.forget(ROOT, 10);
        assert_eq!(table.path(ROOT).as_deref(), Some("/"), "the root stays");
    }

    #[test]
    fn a_rename_moves_the_subtree_and_detaches_the_target() {
        let mut table = Inodes::new();
        let d = table.lookup("/d");
        let f = table.lookup("/d/f");
        let other = table.lookup("/dx");
        let target = table.lookup("/e");
        table.rename("/d", "/e");
        assert_eq!(table.path(d).as_deref(), Some("/e"));
        assert_eq!(table.path(f).as_deref(), Some("/e/f"));
        assert_eq!(table.path(other).as_deref(), Some("/dx"), "a sibling with the same prefix");
        assert_eq!(table.path(target), None, "the replaced entry names nothing");
        assert_eq!(table.ino_of("/e/f"), Some(f));
        table.forget(target, 1);
        assert_eq!(table.ino_of("/e"), Some(d), "forgetting the replaced one keeps the new");
    }

    #[test]
    fn readdir_rows_never_collide_with_table_numbers() {
        let mut table = Inodes::new();
        let a = table.lookup("/a");
        assert_eq!(table.row_ino("/a"), a);
        let b = table.row_ino("/b");
        assert!(b & SYNTHETIC_BIT != 0 && b == table.row_ino("/b"));
        assert_eq!(table.len(), 2, "rows allocate nothing");
    }

    #[test]
    fn paths_split_and_join() {
        assert_eq!(child("/", "a"), "/a");
        assert_eq!(child("/a", "b"), "/a/b");
        assert_eq!(split("/a/b"), Some(("/a", "b")));
        assert_eq!(split("/a"), Some(("/", "a")));
        assert_eq!(split("/"), None);
    }

    #[test]
    fn attributes_expire_and_invalidate_by_prefix() {
        let mut cache = AttrCache::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let meta = Meta { folder: false, size: 3, version: Some(1), hash: None, mtime_ms: 0 };
        cache.put("/d/f", Some(meta.clone()), t0);
        cache.put("/g", None, t0);
        assert_eq!(cache.get("/d/f", t0), Some(Some(meta)));
        assert_eq!(cache.get("/g", t0), Some(None), "known absent");
        assert_eq!(cache.get("/d/f", t0 + Duration::from_secs(2)), None, "expired");
        cache.invalidate("/d");
        assert_eq!(cache.get("/d/f", t0), None);
    }
}
