//! Recovery at open: clear the temp folder, make existing folders durable, and scan the tree
//! once to count every chunk (the module docs of `chunks` give the rules).

use std::path::Path;

use dfs_core::ids::ChunkId;
use tracing::{info, warn};

use super::{disk, hex_byte, parse_chunk_id, parse_hex_byte, Inner, StoreError, Usage, TMP_DIR};

/// Startup work of the store; runs on the blocking pool like the rest of [`Inner`].
impl Inner {
    /// Startup: creates the folders, clears `tmp/`, makes existing folders durable, counts chunks.
    pub(super) fn recover(&self) -> Result<(), StoreError> {
        self.disk.create_dir_all(&self.tmp)?;
        let mut removed = 0u64;
        for entry in self.disk.list_dir(&self.tmp)? {
            match entry.kind {
                disk::Kind::File { .. } => {
                    self.disk.remove_file(&entry.path)?;
                    removed += 1;
                }
                _ => {
                    warn!(path = %entry.path.display(), "ignoring stray entry in chunk temp folder")
                }
            }
        }
        if removed > 0 {
            info!(removed, "removed leftover temp chunk files");
        }
        let mut usage = Usage::default();
        let found = self.scan(&mut |_id, len_bytes| {
            usage.chunks += 1;
            usage.bytes += len_bytes;
        })?;
        // Folders left by an earlier run may not be durable yet; after this they are.
        for &a in &found.ab {
            self.disk.sync_dir(&self.root.join(hex_byte(a)))?;
        }
        self.disk.sync_dir(&self.root)?;
        self.disk.sync_dir(&self.data_dir)?;
        let mut state = self.lock();
        state.usage = usage;
        for &a in &found.ab {
            state.ab_durable[usize::from(a)] = true;
        }
        for &(a, c) in &found.cd {
            state.cd_durable[usize::from(a) << 8 | usize::from(c)] = true;
        }
        drop(state);
        info!(
            chunks = usage.chunks,
            bytes = usage.bytes,
            strays = found.strays,
            "chunk store opened"
        );
        Ok(())
    }

    /// Walks `chunks/ab/cd/`, calling `on_chunk(id, len)` for each well-placed chunk file and
    /// warning about anything else.
    pub(super) fn scan(&self, on_chunk: &mut dyn FnMut(ChunkId, u64)) -> Result<Found, StoreError> {
        let mut found = Found::default();
        for entry in self.disk.list_dir(&self.root)? {
            if entry.name.as_deref() == Some(TMP_DIR) && entry.kind == disk::Kind::Dir {
                continue;
            }
            match (folder_byte(&entry), entry.kind) {
                (Some(a), disk::Kind::Dir) => {
                    found.ab.push(a);
                    self.scan_ab(a, &entry.path, &mut found, on_chunk)?;
                }
                _ => found.stray(&entry.path),
            }
        }
        Ok(found)
    }

    fn scan_ab(
        &self,
        a: u8,
        ab: &Path,
        found: &mut Found,
        on_chunk: &mut dyn FnMut(ChunkId, u64),
    ) -> Result<(), StoreError> {
        for entry in self.disk.list_dir(ab)? {
            match (folder_byte(&entry), entry.kind) {
                (Some(c), disk::Kind::Dir) => {
                    found.cd.push((a, c));
                    for chunk in self.disk.list_dir(&entry.path)? {
                        let id = chunk.name.as_deref().and_then(parse_chunk_id);
                        match (id, chunk.kind) {
                            (Some(id), disk::Kind::File { len_bytes })
                                if id.0 .0[0] == a && id.0 .0[1] == c =>
                            {
                                on_chunk(id, len_bytes);
                            }
                            _ => found.stray(&chunk.path),
                        }
                    }
                }
                _ => found.stray(&entry.path),
            }
        }
        Ok(())
    }
}

/// The byte an `ab` or `cd` folder name stands for, if it is two lowercase hex digits.
fn folder_byte(entry: &disk::Entry) -> Option<u8> {
    entry.name.as_deref().and_then(|name| parse_hex_byte(name.as_bytes()))
}

/// Folders and strays met by a scan.
#[derive(Debug, Default)]
pub(super) struct Found {
    ab: Vec<u8>,
    cd: Vec<(u8, u8)>,
    strays: u64,
}

impl Found {
    fn stray(&mut self, path: &Path) {
        warn!(path = %path.display(), "ignoring stray file in chunk store");
        self.strays += 1;
    }
}
