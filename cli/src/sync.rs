//! Live directory sync (DESIGN §2 "live directory sync"): `dfs watch DIR --to PATH` pushes local
//! changes into the cluster ([`watch`]), `dfs mirror PATH DIR` keeps a local folder equal to the
//! cluster from the change feed ([`mirror`]). Run both on one folder on two machines and they
//! stay in sync without loops:
//!
//! - the watcher pushes a file only when its content is not already one of the path's kept
//!   versions in the cluster (so what the mirror wrote, even an older version it is catching up
//!   through, is never pushed back), and deletes a path only while the cluster still has it;
//! - the mirror writes a file only when its content differs, and never overwrites or deletes a
//!   local file whose content the cluster does not have: it moves it to
//!   `.dfs-sync/conflicts/` first.
//!
//! Uploads are chunk-level ([`upload`]): only chunks the cluster lacks are sent. Every write is a
//! new version and every delete a tombstone, so whatever a watcher overwrites or deletes stays in
//! `dfs history` (unless retention is set to prune it). A local deletion of more than
//! `--max-delete-share` of the synced files is held until `dfs sync-confirm DIR` ([`guard`]).
//!
//! State lives in the synced folder itself, in `DIR/.dfs-sync/`, which neither side syncs:
//! `mirror.json` (the feed position and the version of every mirrored file), `held-deletes.json`
//! (deletions waiting for confirmation), `tmp/` (downloads in progress), `conflicts/`.

pub mod guard;
pub mod mirror;
pub mod sse;
pub mod upload;
pub mod watch;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

use crate::client::{failure, Client};
use crate::commands::url_path;

/// The folder in a synced directory that holds sync state; never synced itself.
pub const STATE_DIR: &str = ".dfs-sync";

/// Whether a path relative to the synced folder is left out of syncing: the state folder,
/// downloads in progress, and common editor swap and backup files.
pub fn is_ignored(rel: &str) -> bool {
    rel.split('/').any(|part| {
        part == STATE_DIR
            || part.contains(".dfs-partial-")
            || part.ends_with(".swp")
            || part.ends_with(".swx")
            || part.ends_with('~')
            || part.starts_with(".#")
            || part == "4913"
    })
}

/// A synced folder and the cluster folder it corresponds to.
#[derive(Clone, Debug)]
pub struct Pair {
    /// The local folder.
    pub dir: PathBuf,
    /// The cluster folder, normalized: `/` or `/a/b` (no trailing `/`).
    pub root: String,
}

impl Pair {
    /// The pair for `dir` and the cluster folder `root`.
    pub fn new(dir: &Path, root: &str) -> anyhow::Result<Self> {
        let dir = std::fs::canonicalize(dir)
            .with_context(|| format!("{} is not a folder I can open", dir.display()))?;
        let trimmed = root.trim().trim_end_matches('/');
        let root = if trimmed.is_empty() {
            "/".to_owned()
        } else if trimmed.starts_with('/') {
            trimmed.to_owned()
        } else {
            format!("/{trimmed}")
        };
        Ok(Self { dir, root })
    }

    /// The cluster path of a relative path (`a/b.txt` → `/root/a/b.txt`).
    pub fn remote(&self, rel: &str) -> String {
        if self.root == "/" {
            format!("/{rel}")
        } else {
            format!("{}/{rel}", self.root)
        }
    }

    /// The relative path of a cluster path under the root; `None` outside it (or the root).
    pub fn relative(&self, remote: &str) -> Option<String> {
        let rest = if self.root == "/" {
            remote.strip_prefix('/')?
        } else {
            remote.strip_prefix(self.root.as_str())?.strip_prefix('/')?
        };
        (!rest.is_empty() && !is_ignored(rest)).then(|| rest.to_owned())
    }

    /// The relative path (with `/`) of a local path inside the folder; `None` outside it.
    pub fn local_rel(&self, local: &Path) -> Option<String> {
        let rest = local.strip_prefix(&self.dir).ok()?;
        let parts: Option<Vec<&str>> = rest.components().map(|c| c.as_os_str().to_str()).collect();
        let rel = parts?.join("/");
        (!rel.is_empty()).then_some(rel)
    }

    /// The local path of a relative path.
    pub fn local(&self, rel: &str) -> PathBuf {
        rel.split('/').fold(self.dir.clone(), |path, part| path.join(part))
    }

    /// `DIR/.dfs-sync/<name>`, creating `.dfs-sync` if needed.
    pub fn state_path(&self, name: &str) -> anyhow::Result<PathBuf> {
        let state = self.dir.join(STATE_DIR);
        std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
        Ok(state.join(name))
    }
}

/// blake3 (hex) of a local file, streamed; `None` when it is not a readable regular file.
pub fn hash_local(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file).ok()?;
    Some(hasher.finalize().to_hex().to_string())
}

/// What the cluster holds at a path, from `GET /history`.
#[derive(Clone, Debug, Default)]
pub struct RemoteFile {
    /// The latest live version, if the file is live.
    pub latest: Option<(u64, String)>,
    /// The hashes of every kept version (live or deleted file).
    pub hashes: Vec<String>,
    /// Whether a folder is at the path.
    pub folder: bool,
}

impl RemoteFile {
    /// Whether `hash` is the content of one of the kept versions.
    pub fn has_content(&self, hash: &str) -> bool {
        self.hashes.iter().any(|h| h == hash)
    }
}

/// What is at `path` in the cluster: a live file (latest version and every kept hash), a deleted
/// file (hashes only), a folder, or nothing.
pub async fn remote_file(client: &Client, path: &str) -> anyhow::Result<RemoteFile> {
    let url = url_path(path)?;
    let response = client.send(|http, node| http.get(format!("{node}/history/{url}"))).await?;
    let status = response.status().as_u16();
    if status == 404 {
        return Ok(RemoteFile::default());
    }
    if !response.status().is_success() {
        let error = failure(response).await;
        if error.code == "is_folder" || error.code == "not_a_file" {
            return Ok(RemoteFile { folder: true, ..RemoteFile::default() });
        }
        return Err(error.into());
    }
    let value: Value = response.json().await.context("reading a history")?;
    let versions = value["versions"].as_array().cloned().unwrap_or_default();
    let hashes = versions.iter().filter_map(|v| v["hash"].as_str().map(str::to_owned)).collect();
    let latest = (value["deleted"] != Value::Bool(true))
        .then(|| versions.last())
        .flatten()
        .and_then(|v| Some((v["version"].as_u64()?, v["hash"].as_str()?.to_owned())));
    Ok(RemoteFile { latest, hashes, folder: false })
}

/// Writes `value` as JSON to `path` atomically (temp file + rename).
pub fn save_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let temp = path.with_extension("json.tmp");
    let text = serde_json::to_vec(value)?;
    std::fs::write(&temp, text).with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Reads JSON from `path`; `None` if it does not exist or cannot be parsed (a broken state file
/// is treated as absent: the mirror relists, the guard forgets).
pub fn load_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}
