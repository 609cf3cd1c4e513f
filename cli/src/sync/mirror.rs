//! `dfs mirror PATH DIR`: keeps a local folder equal to a cluster folder, from the change feed.
//!
//! State (`DIR/.dfs-sync/mirror.json`): the id of the last event applied and the version and
//! hash of every file mirrored. On start without state, and on a `reset` event (the node no
//! longer holds the events after ours), the mirror lists the folder (`GET /files?prefix=`) and
//! reconciles: downloads what differs, deletes what it mirrored before and the cluster no longer
//! has. The position to follow the feed from is read (`GET /health` `applied_index`) *before*
//! listing, so no change between the two is missed (replayed events are harmless: applying one
//! is idempotent). Otherwise it resumes after its last event id, so a mirror that was offline
//! catches up from the feed.
//!
//! A download goes to `.dfs-sync/tmp/` (verified against the version's hash) and is renamed into
//! place. Before a local file is overwritten or deleted, its content is checked: when it is not
//! what the mirror wrote last and not a kept version in the cluster (an unsynced local edit), it
//! is moved to `.dfs-sync/conflicts/<path>.<unix ms>` instead of being lost.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::sse::{EventStream, FeedEvent};
use super::{hash_local, load_json, remote_file, save_json, Pair};
use crate::client::Client;
use crate::commands::query;
use crate::transfer::{fetch, Which};

/// The mirror's state file in `DIR/.dfs-sync/`.
pub const STATE_FILE: &str = "mirror.json";
/// Files per page when listing the folder.
const LIST_PAGE: usize = 1000;
/// The state is saved after this many events even while they keep coming.
const SAVE_EVERY_EVENTS: usize = 200;
/// Quiet time after which the state is saved.
const SAVE_AFTER_QUIET: Duration = Duration::from_millis(200);
/// Pause before reconnecting a broken feed: first, then doubling to the largest.
const RECONNECT_PAUSE: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(2));

/// Options of `dfs mirror`.
#[derive(Debug, clap::Args)]
pub struct MirrorArgs {
    /// The cluster folder to mirror.
    pub path: String,
    /// The local folder kept equal to it (created if missing).
    pub dir: PathBuf,
}

/// What the mirror knows about one file it wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mirrored {
    /// The version written.
    pub version: u64,
    /// Its blake3 (hex).
    pub hash: String,
}

/// The mirror's saved state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct MirrorState {
    /// The cluster folder mirrored.
    pub root: String,
    /// The id of the last event applied (resume after it).
    pub last_event_id: Option<String>,
    /// Every file mirrored, by relative path.
    pub files: BTreeMap<String, Mirrored>,
}

struct Mirror {
    client: Client,
    pair: Pair,
    state: MirrorState,
    json: bool,
    downloads: u64,
}

/// `dfs mirror PATH DIR`: runs until Ctrl-C.
pub async fn run(client: Client, args: MirrorArgs, json: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let pair = Pair::new(&args.dir, &args.path)?;
    let state_path = pair.state_path(STATE_FILE)?;
    let state = load_json::<MirrorState>(&state_path)
        .filter(|s| s.root == pair.root)
        .unwrap_or_else(|| MirrorState { root: pair.root.clone(), ..MirrorState::default() });
    let mut mirror = Mirror { client, pair, state, json, downloads: 0 };
    if mirror.state.last_event_id.is_none() {
        mirror.reconcile().await?;
    }
    mirror.say(
        &json!({ "mirroring": mirror.pair.root, "dir": mirror.pair.dir.display().to_string() }),
        &format!("mirroring {} -> {}", mirror.pair.root, mirror.pair.dir.display()),
    );
    tokio::select! {
        result = mirror.follow(&state_path) => result,
        _ = tokio::signal::ctrl_c() => mirror.save(&state_path),
    }
}

impl Mirror {
    fn say(&self, value: &Value, human: &str) {
        let mut out = std::io::stdout().lock();
        let _ = if self.json { writeln!(out, "{value}") } else { writeln!(out, "{human}") };
        let _ = out.flush();
    }

    fn warn(&self, what: &str, error: &anyhow::Error) {
        let _ = writeln!(std::io::stderr().lock(), "dfs mirror: {what}: {error:#}");
    }

    fn save(&self, state_path: &std::path::Path) -> anyhow::Result<()> {
        save_json(state_path, &self.state)
    }

    /// Follows the feed forever, reconnecting (to any node) after the last applied event.
    async fn follow(&mut self, state_path: &std::path::Path) -> anyhow::Result<()> {
        let mut pause = RECONNECT_PAUSE.0;
        loop {
            let opened = EventStream::open(&self.client, self.state.last_event_id.as_deref()).await;
            let mut stream = match opened {
                Ok(stream) => stream,
                Err(error) => {
                    self.warn("opening the change feed", &error);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RECONNECT_PAUSE.1);
                    continue;
                }
            };
            pause = RECONNECT_PAUSE.0;
            let mut unsaved = 0usize;
            loop {
                let next = tokio::time::timeout(SAVE_AFTER_QUIET, stream.next()).await;
                let event = match next {
                    Err(_) => {
                        if unsaved > 0 {
                            self.save(state_path)?;
                            unsaved = 0;
                        }
                        continue;
                    }
                    Ok(Err(error)) => {
                        self.warn("the change feed", &error);
                        break;
                    }
                    Ok(Ok(event)) => event,
                };
                self.apply(&event).await;
                if let Some(id) = event.id {
                    self.state.last_event_id = Some(id);
                }
                unsaved += 1;
                if unsaved >= SAVE_EVERY_EVENTS {
                    self.save(state_path)?;
                    unsaved = 0;
                }
            }
            self.save(state_path)?;
        }
    }

    /// Applies one feed event to the folder. Failures are reported, not fatal: the next event
    /// or reconcile repairs them.
    async fn apply(&mut self, event: &FeedEvent) {
        let data = &event.data;
        let path = |name: &str| data[name].as_str().and_then(|p| self.pair.relative(p));
        let result = match data["kind"].as_str().unwrap_or("") {
            "file_added" | "file_changed" => match (path("path"), data["version"].as_u64()) {
                (Some(rel), Some(version)) => {
                    let hash = data["hash"].as_str().unwrap_or("").to_owned();
                    self.write(&rel, version, &hash).await
                }
                _ => Ok(()),
            },
            "file_removed" => match path("path") {
                Some(rel) => self.remove(&rel).await,
                None => Ok(()),
            },
            "folder_added" => path("path").map_or(Ok(()), |rel| {
                std::fs::create_dir_all(self.pair.local(&rel)).map_err(Into::into)
            }),
            "folder_removed" => {
                if let Some(rel) = path("path") {
                    let _ = std::fs::remove_dir(self.pair.local(&rel));
                }
                Ok(())
            }
            "moved" => self.moved(data).await,
            "reset" => self.reconcile().await,
            _ => Ok(()),
        };
        if let Err(error) = result {
            self.warn(&format!("applying {}", data["kind"]), &error);
        }
    }

    /// Makes the local file `rel` version `version` (content `hash`) unless it already is.
    async fn write(&mut self, rel: &str, version: u64, hash: &str) -> anyhow::Result<()> {
        let local = self.pair.local(rel);
        let current = hash_local(&local);
        if current.as_deref() == Some(hash) {
            self.state.files.insert(rel.to_owned(), Mirrored { version, hash: hash.to_owned() });
            return Ok(());
        }
        let remote = self.pair.remote(rel);
        let temp = self.pair.state_path("tmp")?;
        std::fs::create_dir_all(&temp)?;
        self.downloads += 1;
        let temp = temp.join(format!("{}-{}", std::process::id(), self.downloads));
        let fetched = match fetch(&self.client, &remote, &temp, &Which::Version(version)).await {
            Ok(fetched) => fetched,
            Err(error) => {
                // Pruned or deleted since: a later event says what is there now.
                let _ = std::fs::remove_file(&temp);
                return Err(error);
            }
        };
        if let Some(existing) = current {
            self.keep_if_unsynced(rel, &existing).await?;
        }
        if let Some(parent) = local.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(&temp, &local)
            .with_context(|| format!("moving the download into {}", local.display()))?;
        self.state.files.insert(rel.to_owned(), Mirrored { version, hash: fetched.hash });
        self.say(&json!({ "wrote": rel, "version": version }), &format!("wrote {rel} v{version}"));
        Ok(())
    }

    /// Moves a local file aside into `.dfs-sync/conflicts/` when its content (`hash`) is neither
    /// what the mirror wrote there last nor any kept version in the cluster.
    async fn keep_if_unsynced(&self, rel: &str, hash: &str) -> anyhow::Result<()> {
        if self.state.files.get(rel).is_some_and(|m| m.hash == hash) {
            return Ok(());
        }
        let remote = remote_file(&self.client, &self.pair.remote(rel)).await?;
        if remote.has_content(hash) {
            return Ok(());
        }
        let stamp = now_millis();
        let aside =
            self.pair.state_path("conflicts")?.join(format!("{}.{stamp}", rel.replace('/', "%2F")));
        std::fs::rename(self.pair.local(rel), &aside)?;
        self.say(
            &json!({ "kept_local_edit": rel, "at": aside.display().to_string() }),
            &format!("kept the unsynced local {rel} as {}", aside.display()),
        );
        Ok(())
    }

    /// Deletes the local file `rel` (the cluster deleted it), keeping unsynced content aside.
    async fn remove(&mut self, rel: &str) -> anyhow::Result<()> {
        let local = self.pair.local(rel);
        if let Some(hash) = hash_local(&local) {
            self.keep_if_unsynced(rel, &hash).await?;
            if local.exists() {
                std::fs::remove_file(&local)?;
            }
        }
        self.state.files.remove(rel);
        Ok(())
    }

    /// A move inside the folder is a local rename; a move in or out is a reconcile.
    async fn moved(&mut self, data: &Value) -> anyhow::Result<()> {
        let from = data["from"].as_str().and_then(|p| self.pair.relative(p));
        let to = data["to"].as_str().and_then(|p| self.pair.relative(p));
        let (Some(from), Some(to)) = (from, to) else {
            let touches = [&data["from"], &data["to"]]
                .iter()
                .any(|p| p.as_str().is_some_and(|p| self.pair.relative(p).is_some()));
            return if touches { self.reconcile().await } else { Ok(()) };
        };
        let (local_from, local_to) = (self.pair.local(&from), self.pair.local(&to));
        if local_from.exists() && !local_to.exists() {
            if let Some(parent) = local_to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::rename(&local_from, &local_to)?;
        }
        let moved: Vec<(String, Mirrored)> = self
            .state
            .files
            .iter()
            .filter(|(r, _)| *r == &from || r.starts_with(&format!("{from}/")))
            .map(|(r, m)| (r.clone(), m.clone()))
            .collect();
        for (rel, known) in moved {
            self.state.files.remove(&rel);
            let renamed = format!("{to}{}", &rel[from.len()..]);
            self.state.files.insert(renamed, known);
        }
        Ok(())
    }

    /// Lists the folder and makes the local copy equal to it.
    async fn reconcile(&mut self) -> anyhow::Result<()> {
        let health = self.client.get_json("/health").await?;
        let position = health["applied_index"].as_u64().context("no applied_index in /health")?;
        let listed = self.list().await?;
        for (rel, (version, hash)) in &listed {
            if let Err(error) = self.write(rel, *version, hash).await {
                self.warn(&format!("downloading {rel}"), &error);
            }
        }
        let stale: Vec<String> =
            self.state.files.keys().filter(|rel| !listed.contains_key(*rel)).cloned().collect();
        for rel in stale {
            self.remove(&rel).await?;
        }
        self.state.last_event_id = Some(position.to_string());
        Ok(())
    }

    /// Every live file under the root: relative path → (latest version, hash).
    async fn list(&self) -> anyhow::Result<BTreeMap<String, (u64, String)>> {
        let mut out = BTreeMap::new();
        let mut after: Option<String> = None;
        loop {
            let mut pairs = vec![("limit", LIST_PAGE.to_string())];
            if self.pair.root != "/" {
                pairs.push(("prefix", self.pair.root.clone()));
            }
            pairs.extend(after.iter().map(|a| ("after", a.clone())));
            let page = self.client.get_json(&format!("/files{}", query(&pairs))).await?;
            for file in page["files"].as_array().into_iter().flatten() {
                let Some(rel) = file["path"].as_str().and_then(|p| self.pair.relative(p)) else {
                    continue;
                };
                if file["deleted"] == Value::Bool(true) {
                    continue;
                }
                let latest = file["versions"].as_array().and_then(|v| v.last());
                if let Some((version, hash)) = latest
                    .and_then(|v| Some((v["version"].as_u64()?, v["hash"].as_str()?.to_owned())))
                {
                    out.insert(rel, (version, hash));
                }
            }
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return Ok(out),
            }
        }
    }
}

/// Wall-clock milliseconds, to name files kept aside.
fn now_millis() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}
