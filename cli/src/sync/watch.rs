//! `dfs watch DIR --to PATH`: pushes local changes into the cluster as they happen. The folder is
//! watched recursively (inotify through the `notify` crate); events are debounced (a batch ends
//! after `--debounce-ms` without events, or after [`BATCH_MAX`]), then each changed path is
//! compared with the cluster:
//!
//! - a file is pushed ([`super::upload`], chunk-level) unless its content is the live file's
//!   latest or any kept version (so nothing the mirror wrote goes back), conditionally on the
//!   version seen (`If-Match`, or `If-None-Match: *`), retried on a lost race;
//! - a rename the cluster can follow (the old path holds the same content) becomes one move, so
//!   the file keeps its history; otherwise it is a delete and a create;
//! - a deleted path is tombstoned file by file (history kept; folders emptied this way are then
//!   removed) while the cluster still has it, unless the mass-delete guard holds it
//!   ([`super::guard`]);
//! - a new folder is created, and its content pushed (a folder moved in arrives as one event).
//!
//! On start, and whenever the kernel's event queue overflowed, the whole folder is scanned the
//! same way. Files in the cluster that are missing locally at start are left alone (they may be
//! new there; `dfs mirror` brings them).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::upload::{push, Condition};
use super::{guard, hash_local, remote_file, Pair, RemoteFile};
use crate::client::{json_or_error, ApiFailure, Client};
use crate::commands::{query, url_path};

/// File system events queued between the watcher thread and the pusher; more sets a rescan.
pub const EVENTS_QUEUE: usize = 4096;
/// Longest a batch keeps collecting events while they keep coming.
pub const BATCH_MAX: Duration = Duration::from_secs(1);
/// Attempts of one push that loses a race with another writer.
const PUSH_ATTEMPTS_MAX: usize = 3;
/// Entries per page when a deleted folder's content is listed.
const LIST_PAGE: usize = 1000;

/// Options of `dfs watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The local folder to watch.
    pub dir: std::path::PathBuf,
    /// The cluster folder it is pushed into (created if missing).
    #[arg(long)]
    pub to: String,
    /// Hold a batch of local deletions that removes more than this share of the synced files
    /// (0 to 1) until `dfs sync-confirm DIR`.
    #[arg(long, default_value_t = 0.5)]
    pub max_delete_share: f64,
    /// Quiet time that ends a batch of changes, in milliseconds.
    #[arg(long, default_value_t = 30)]
    pub debounce_ms: u64,
}

/// One debounced batch of changes.
#[derive(Debug, Default)]
struct Batch {
    renames: Vec<(String, String)>,
    dirty: BTreeSet<String>,
    rescan: bool,
}

impl Batch {
    fn add(&mut self, pair: &Pair, event: &Event) {
        if event.need_rescan() {
            self.rescan = true;
        }
        if let EventKind::Access(access) = event.kind {
            if access != AccessKind::Close(AccessMode::Write) {
                return;
            }
        }
        let rels: Vec<Option<String>> = event
            .paths
            .iter()
            .map(|p| pair.local_rel(p).filter(|rel| !super::is_ignored(rel)))
            .collect();
        if let (EventKind::Modify(ModifyKind::Name(RenameMode::Both)), [from, to]) =
            (event.kind, rels.as_slice())
        {
            match (from, to) {
                (Some(from), Some(to)) => self.renames.push((from.clone(), to.clone())),
                (None, Some(to)) => {
                    self.dirty.insert(to.clone());
                }
                (Some(from), None) => {
                    self.dirty.insert(from.clone());
                }
                (None, None) => {}
            }
            return;
        }
        self.dirty.extend(rels.into_iter().flatten());
    }
}

/// The watcher's view of the folder.
struct Pusher {
    client: Client,
    pair: Pair,
    max_delete_share: f64,
    json: bool,
    /// Synced files, for the mass-delete guard.
    tracked: BTreeSet<String>,
    /// Local folders seen.
    folders: BTreeSet<String>,
    /// Files whose content the cluster was last seen to have: skips a request on repeat events.
    confirmed: BTreeMap<String, String>,
}

/// `dfs watch DIR --to PATH`: runs until Ctrl-C.
pub async fn run(client: Client, args: WatchArgs, json: bool) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.max_delete_share) {
        anyhow::bail!("--max-delete-share must be between 0 and 1");
    }
    let pair = Pair::new(&args.dir, &args.to)?;
    if pair.root != "/" {
        make_folder(&client, &pair.root).await.context("creating the cluster folder")?;
    }
    let (tx, mut rx) = mpsc::channel::<Event>(EVENTS_QUEUE);
    let overflow = Arc::new(AtomicBool::new(false));
    let flag = overflow.clone();
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<Event>| {
        let queued = result.ok().is_some_and(|event| tx.try_send(event).is_ok());
        if !queued {
            flag.store(true, Ordering::Relaxed);
        }
    })
    .context("starting the file watcher")?;
    watcher
        .watch(&pair.dir, RecursiveMode::Recursive)
        .with_context(|| format!("watching {}", pair.dir.display()))?;
    let mut pusher = Pusher {
        client,
        pair,
        max_delete_share: args.max_delete_share,
        json,
        tracked: BTreeSet::new(),
        folders: BTreeSet::new(),
        confirmed: BTreeMap::new(),
    };
    pusher.rescan().await;
    pusher.say(
        &json!({ "watching": pusher.pair.dir.display().to_string(), "to": pusher.pair.root }),
        &format!("watching {} -> {}", pusher.pair.dir.display(), pusher.pair.root),
    );
    let debounce = Duration::from_millis(args.debounce_ms);
    loop {
        let first = tokio::select! {
            event = rx.recv() => event,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(first) = first else { return Ok(()) };
        let mut batch = Batch::default();
        batch.add(&pusher.pair, &first);
        let ends = tokio::time::Instant::now() + BATCH_MAX;
        while let Ok(Some(event)) =
            tokio::time::timeout_at(ends.min(tokio::time::Instant::now() + debounce), rx.recv())
                .await
        {
            batch.add(&pusher.pair, &event);
        }
        batch.rescan |= overflow.swap(false, Ordering::Relaxed);
        pusher.apply(batch).await;
    }
}

impl Pusher {
    /// Prints one line for people, or one JSON object with `--json`.
    fn say(&self, value: &Value, human: &str) {
        let mut out = std::io::stdout().lock();
        let _ = if self.json { writeln!(out, "{value}") } else { writeln!(out, "{human}") };
        let _ = out.flush();
    }

    fn warn(&self, what: &str, error: &anyhow::Error) {
        let _ = writeln!(std::io::stderr().lock(), "dfs watch: {what}: {error:#}");
    }

    async fn apply(&mut self, batch: Batch) {
        if batch.rescan {
            return self.rescan().await;
        }
        let mut dirty = batch.dirty;
        for (from, to) in batch.renames {
            match self.try_move(&from, &to).await {
                Ok(true) => {}
                Ok(false) => dirty.extend([from, to]),
                Err(error) => {
                    self.warn(&format!("moving {from} to {to}"), &error);
                    dirty.extend([from, to]);
                }
            }
        }
        let (present, gone): (Vec<String>, Vec<String>) =
            dirty.into_iter().partition(|rel| self.pair.local(rel).exists());
        self.delete(gone).await;
        for rel in present {
            self.sync_path(&rel).await;
        }
    }

    /// Walks the whole folder, pushing what differs; tracked files no longer there are deleted.
    async fn rescan(&mut self) {
        let mut found_files = BTreeSet::new();
        let mut stack = vec![self.pair.dir.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                let Some(rel) = self.pair.local_rel(&path) else { continue };
                if super::is_ignored(&rel) {
                    continue;
                }
                match entry.file_type() {
                    Ok(kind) if kind.is_dir() => {
                        if self.folders.insert(rel.clone()) {
                            self.create_folder(&rel).await;
                        }
                        stack.push(path);
                    }
                    Ok(kind) if kind.is_file() => {
                        found_files.insert(rel);
                    }
                    _ => {}
                }
            }
        }
        let gone: Vec<String> = self.tracked.difference(&found_files).cloned().collect();
        self.delete(gone).await;
        for rel in found_files {
            self.push_if_changed(&rel).await;
        }
    }

    /// A path that exists locally: a folder is created (and scanned if new), a file pushed.
    async fn sync_path(&mut self, rel: &str) {
        let local = self.pair.local(rel);
        if local.is_dir() {
            if self.folders.insert(rel.to_owned()) {
                self.create_folder(rel).await;
                self.scan_folder(rel).await;
            }
        } else if local.is_file() {
            self.push_if_changed(rel).await;
        }
    }

    /// Pushes every file under a folder that appeared (moved in, or created with content).
    async fn scan_folder(&mut self, rel: &str) {
        let mut stack = vec![rel.to_owned()];
        let mut files = Vec::new();
        while let Some(folder) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(self.pair.local(&folder)) else { continue };
            for entry in entries.flatten() {
                let Some(child) = self.pair.local_rel(&entry.path()) else { continue };
                match entry.file_type() {
                    Ok(kind) if kind.is_dir() => {
                        if self.folders.insert(child.clone()) {
                            self.create_folder(&child).await;
                        }
                        stack.push(child);
                    }
                    Ok(kind) if kind.is_file() => files.push(child),
                    _ => {}
                }
            }
        }
        for file in files {
            self.push_if_changed(&file).await;
        }
    }

    async fn create_folder(&self, rel: &str) {
        if let Err(error) = make_folder(&self.client, &self.pair.remote(rel)).await {
            self.warn(&format!("creating folder {rel}"), &error);
        }
    }

    /// Pushes a local file unless the cluster already has its content at that path.
    async fn push_if_changed(&mut self, rel: &str) {
        let local = self.pair.local(rel);
        let owned = local.clone();
        let Ok(Some(hash)) = tokio::task::spawn_blocking(move || hash_local(&owned)).await else {
            return;
        };
        self.tracked.insert(rel.to_owned());
        if self.confirmed.get(rel) == Some(&hash) {
            return;
        }
        let remote_path = self.pair.remote(rel);
        for _ in 0..PUSH_ATTEMPTS_MAX {
            let remote = match remote_file(&self.client, &remote_path).await {
                Ok(remote) => remote,
                Err(error) => return self.warn(&format!("looking up {rel}"), &error),
            };
            if remote.folder {
                let error = anyhow::anyhow!("the cluster has a folder there");
                return self.warn(&format!("pushing {rel}"), &error);
            }
            if remote.latest.is_some() && remote.has_content(&hash) {
                self.confirmed.insert(rel.to_owned(), hash);
                return;
            }
            let condition = match &remote.latest {
                Some((version, _)) => Condition::Version(*version),
                None => Condition::Absent,
            };
            match push(&self.client, &local, &remote_path, condition).await {
                Ok(pushed) => {
                    self.confirmed.insert(rel.to_owned(), pushed.hash.clone());
                    let value = json!({ "pushed": rel, "version": pushed.version, "sent_bytes": pushed.sent_bytes, "size_bytes": pushed.size_bytes });
                    let human = format!(
                        "pushed {rel} v{} (sent {} of {} bytes)",
                        pushed.version, pushed.sent_bytes, pushed.size_bytes
                    );
                    return self.say(&value, &human);
                }
                Err(error) if is_conflict(&error) => continue,
                Err(error) => return self.warn(&format!("pushing {rel}"), &error),
            }
        }
    }

    /// A local rename from → to as one move in the cluster, when the cluster's `from` is the
    /// same thing (a folder, or a file with the content now at `to`) and `to` is free there.
    async fn try_move(&mut self, from: &str, to: &str) -> anyhow::Result<bool> {
        let (local_from, local_to) = (self.pair.local(from), self.pair.local(to));
        if local_from.exists() || !local_to.exists() {
            return Ok(false);
        }
        let (remote_from, remote_to) = (self.pair.remote(from), self.pair.remote(to));
        let source = remote_file(&self.client, &remote_from).await?;
        let same = if local_to.is_dir() {
            source.folder
        } else {
            let owned = local_to.clone();
            let hash = tokio::task::spawn_blocking(move || hash_local(&owned)).await?;
            matches!((&source.latest, hash), (Some((_, latest)), Some(h)) if *latest == h)
        };
        if !same {
            return Ok(false);
        }
        let pairs = [("from", remote_from.as_str()), ("to", remote_to.as_str())];
        let route = format!("/move{}", query(&pairs));
        let response = self.client.send(|http, node| http.post(format!("{node}{route}"))).await?;
        if json_or_error(response).await.is_err() {
            return Ok(false);
        }
        self.renamed(from, to);
        self.say(&json!({ "moved": from, "to": to }), &format!("moved {from} -> {to}"));
        Ok(true)
    }

    /// Renames tracked state under `from` to `to`.
    fn renamed(&mut self, from: &str, to: &str) {
        let moved = |rel: &str| -> Option<String> {
            if rel == from {
                return Some(to.to_owned());
            }
            rel.strip_prefix(from)?.strip_prefix('/').map(|rest| format!("{to}/{rest}"))
        };
        self.tracked = self.tracked.iter().map(|r| moved(r).unwrap_or_else(|| r.clone())).collect();
        self.folders = self.folders.iter().map(|r| moved(r).unwrap_or_else(|| r.clone())).collect();
        self.confirmed = std::mem::take(&mut self.confirmed)
            .into_iter()
            .map(|(r, h)| (moved(&r).unwrap_or(r), h))
            .collect();
    }

    /// Paths gone locally: deleted in the cluster (where it still has them), unless the
    /// mass-delete guard holds them.
    async fn delete(&mut self, gone: Vec<String>) {
        let mut pending = BTreeSet::new();
        let mut files = 0usize;
        for rel in gone {
            let under = |r: &String| r == &rel || r.starts_with(&format!("{rel}/"));
            let tracked: Vec<String> = self.tracked.iter().filter(|r| under(r)).cloned().collect();
            let was_folder = self.folders.iter().any(under);
            self.folders.retain(|r| !under(r));
            for r in &tracked {
                self.confirmed.remove(r);
            }
            // Deleted here while the cluster still has it (even if this watcher never saw the
            // file: the mirror may have written it and the user deleted it at once).
            let remote = remote_file(&self.client, &self.pair.remote(&rel)).await;
            let remote_has = remote.as_ref().map_or(true, |r| r.latest.is_some() || r.folder);
            if remote_has {
                files += if was_folder { tracked.len() } else { tracked.len().max(1) };
                pending.insert(rel);
            } else {
                for r in &tracked {
                    self.tracked.remove(r);
                }
            }
        }
        if pending.is_empty() {
            return;
        }
        let before = self.tracked.len();
        if guard::any_held(&self.pair)
            || guard::is_mass_delete(files, before, self.max_delete_share)
        {
            self.tracked
                .retain(|r| !pending.iter().any(|p| r == p || r.starts_with(&format!("{p}/"))));
            if let Err(error) = guard::hold(&self.pair, &pending, files) {
                self.warn("recording held deletions", &error);
            }
            return;
        }
        for rel in pending {
            self.tracked.retain(|r| !(r == &rel || r.starts_with(&format!("{rel}/"))));
            match delete_remote(&self.client, &self.pair.remote(&rel)).await {
                Ok(count) => {
                    self.say(&json!({ "deleted": rel, "files": count }), &format!("deleted {rel}"))
                }
                Err(error) => self.warn(&format!("deleting {rel}"), &error),
            }
        }
    }
}

/// Creates a cluster folder (and its parents); one that exists already is fine.
async fn make_folder(client: &Client, path: &str) -> anyhow::Result<()> {
    let url = url_path(path)?;
    let response = client.send(|http, node| http.post(format!("{node}/folders/{url}"))).await?;
    match json_or_error(response).await {
        Ok(_) => Ok(()),
        Err(error)
            if error.downcast_ref::<ApiFailure>().is_some_and(|f| f.code == "already_exists") =>
        {
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Whether an error is a lost conditional write.
fn is_conflict(error: &anyhow::Error) -> bool {
    error.downcast_ref::<ApiFailure>().is_some_and(|f| f.code == "version_conflict")
}

/// Deletes `path` in the cluster keeping history: a file is tombstoned; a folder has every file
/// under it tombstoned, then its (now empty) folders removed, deepest first. Returns the files
/// deleted.
pub async fn delete_remote(client: &Client, path: &str) -> anyhow::Result<usize> {
    let remote: RemoteFile = remote_file(client, path).await?;
    if !remote.folder {
        if remote.latest.is_none() {
            return Ok(0);
        }
        delete_one(client, path).await?;
        return Ok(1);
    }
    let mut files = 0;
    let mut folders = vec![path.to_owned()];
    let mut stack = vec![path.to_owned()];
    while let Some(folder) = stack.pop() {
        for (child, is_folder) in list(client, &folder).await? {
            if is_folder {
                folders.push(child.clone());
                stack.push(child);
            } else {
                delete_one(client, &child).await?;
                files += 1;
            }
        }
    }
    for folder in folders.iter().rev() {
        if let Err(error) = delete_one(client, folder).await {
            let _ =
                writeln!(std::io::stderr().lock(), "dfs watch: folder {folder} kept: {error:#}");
        }
    }
    Ok(files)
}

async fn delete_one(client: &Client, path: &str) -> anyhow::Result<()> {
    let url = url_path(path)?;
    let response = client.send(|http, node| http.delete(format!("{node}/files/{url}"))).await?;
    match json_or_error(response).await {
        Ok(_) => Ok(()),
        Err(error) if crate::client::is_gone(&error) => Ok(()),
        Err(error) => Err(error),
    }
}

/// A folder's live children: (path, is a folder), every page.
async fn list(client: &Client, folder: &str) -> anyhow::Result<Vec<(String, bool)>> {
    let url = url_path(folder)?;
    let mut after: Option<String> = None;
    let mut out = Vec::new();
    loop {
        let mut pairs = vec![("limit", LIST_PAGE.to_string())];
        pairs.extend(after.iter().map(|a| ("after", a.clone())));
        let route = format!("/list/{url}{}", query(&pairs));
        let page = client.get_json(&route).await?;
        for entry in page["entries"].as_array().into_iter().flatten() {
            if let Some(path) = entry["path"].as_str() {
                out.push((path.to_owned(), entry["kind"] == "folder"));
            }
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return Ok(out),
        }
    }
}
