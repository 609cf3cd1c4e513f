//! The simulator's own count of durable chunk copies (issue 17 point 7): which node holds which
//! chunk on its simulated disk in a way that survives a crash, as the chunk store's file
//! operations made it so — renamed into its folder and that folder fsynced. The workload checks
//! every acknowledged write against it, so a node that acknowledges short of its write quorum
//! is caught even when the missing copies never matter later.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Durable and not-yet-durable chunk files, per node.
#[derive(Default)]
struct Copies {
    /// Chunk (hex) → nodes holding a durable copy.
    durable: BTreeMap<String, BTreeSet<usize>>,
    /// Node → chunk files renamed into place whose folder was not fsynced since.
    unsynced: BTreeMap<usize, BTreeSet<PathBuf>>,
}

// Per thread: a simulation runs every node on the thread that drives it.
thread_local! {
    static COPIES: RefCell<Copies> = RefCell::default();
}

/// Forgets every copy: a new run starts on empty disks.
pub fn reset() {
    COPIES.with(|copies| *copies.borrow_mut() = Copies::default());
}

/// The chunk id of a chunk file (its name), if `path` is one: temp files are not.
fn chunk_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())).then(|| name.to_owned())
}

/// `node` renamed a file into `path`: a copy once its folder is fsynced.
pub fn renamed(node: usize, path: &Path) {
    if chunk_of(path).is_some() {
        COPIES.with(|c| c.borrow_mut().unsynced.entry(node).or_default().insert(path.to_owned()));
    }
}

/// `node` fsynced folder `dir`: the chunk files renamed into it are durable.
pub fn synced(node: usize, dir: &Path) {
    COPIES.with(|copies| {
        let mut copies = copies.borrow_mut();
        let Some(files) = copies.unsynced.get_mut(&node) else { return };
        let (now, later): (BTreeSet<PathBuf>, BTreeSet<PathBuf>) =
            std::mem::take(files).into_iter().partition(|file| file.parent() == Some(dir));
        *files = later;
        for chunk in now.iter().filter_map(|file| chunk_of(file)) {
            copies.durable.entry(chunk).or_default().insert(node);
        }
    });
}

/// `node` removed the file at `path`: no longer a copy (a crash could bring it back, so this
/// only ever undercounts).
pub fn removed(node: usize, path: &Path) {
    let Some(chunk) = chunk_of(path) else { return };
    COPIES.with(|copies| {
        let mut copies = copies.borrow_mut();
        if let Some(files) = copies.unsynced.get_mut(&node) {
            files.remove(path);
        }
        if let Some(nodes) = copies.durable.get_mut(&chunk) {
            nodes.remove(&node);
        }
    });
}

/// `node` crashed: what it had not fsynced is gone.
pub fn crashed(node: usize) {
    COPIES.with(|copies| {
        copies.borrow_mut().unsynced.remove(&node);
    });
}

/// The nodes holding a durable copy of `chunk` (hex).
pub fn holders(chunk: &str) -> BTreeSet<usize> {
    COPIES.with(|copies| copies.borrow().durable.get(chunk).cloned().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNK: &str = "ab00000000000000000000000000000000000000000000000000000000000000";

    fn file(dir: &str) -> PathBuf {
        PathBuf::from(dir).join(CHUNK)
    }

    #[test]
    fn a_copy_is_durable_once_its_folder_is_synced_and_lost_if_the_node_crashes_first() {
        reset();
        renamed(0, &file("/d/ab/00"));
        assert!(holders(CHUNK).is_empty(), "not durable before the folder sync");
        synced(0, Path::new("/d/other"));
        assert!(holders(CHUNK).is_empty(), "another folder's sync does not count");
        synced(0, Path::new("/d/ab/00"));
        assert_eq!(holders(CHUNK), BTreeSet::from([0]));
        renamed(1, &file("/d/ab/00"));
        crashed(1);
        synced(1, Path::new("/d/ab/00"));
        assert_eq!(holders(CHUNK), BTreeSet::from([0]), "the crash took n2's rename");
        removed(0, &file("/d/ab/00"));
        assert!(holders(CHUNK).is_empty());
        renamed(0, Path::new("/d/tmp/x.0.tmp"));
        synced(0, Path::new("/d/tmp"));
        assert!(holders(CHUNK).is_empty(), "temp files are no copies");
    }
}
