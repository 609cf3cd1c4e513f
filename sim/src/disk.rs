//! The simulator's own look at a node's simulated disk, from outside the node: the chunk files it
//! stores (for the orphan check and the corruption fault).

use std::path::PathBuf;

use turmoil::fs::shim::std::fs;
use turmoil::fs::FsHandle;

/// Every node's data directory (on its own simulated file system).
pub const DATA_DIR: &str = "/var/dfs";

/// The paths of the chunk files on the host of `handle`, sorted (temp files left out).
pub fn chunk_files(handle: &FsHandle) -> Vec<PathBuf> {
    let _inside = handle.enter();
    let mut files = Vec::new();
    let mut dirs = vec![PathBuf::from(DATA_DIR).join("chunks")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() && !path.ends_with("tmp") => dirs.push(path),
                Ok(t) if t.is_file() => files.push(path),
                _ => {}
            }
        }
    }
    files.sort();
    files
}

/// The chunk ids (hex) stored on the host of `handle`.
pub fn chunk_ids(handle: &FsHandle) -> Vec<String> {
    let names = chunk_files(handle)
        .into_iter()
        .filter_map(|path| path.file_name().map(|name| name.to_string_lossy().into_owned()));
    names.collect()
}
