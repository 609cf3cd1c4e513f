//! The change feed (DESIGN §2 "change feed"): what happened in the cluster, in raft order, for
//! `GET /events`, the dashboard and mirrors.
//!
//! Every committed change becomes one or more events whose id is the raft index of the entry
//! (`"1234"`, or `"1234.1"` for the second event of one entry), so every node numbers them the same
//! and a client that reconnects to any node with `Last-Event-ID` misses nothing. Things a node
//! sees but the log does not hold (a leader change, a repair copy it starts) are local events:
//! they carry no id and sit after the entry applied before them.
//!
//! The feed keeps the last [`FEED_EVENTS_MAX`] events. A client asking to resume from before them,
//! or from before a snapshot this node restored, gets a `reset` event: it must list afresh.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;

use dfs_core::command::{Change, DeclaredState, MemberRole};
use dfs_core::ids::{LogIndex, NodeId};
use dfs_core::output::JobSpec;
use dfs_core::Event;
use serde_json::{json, Map, Value};
use tokio::sync::watch;

/// Events kept for clients that reconnect or read slowly.
pub const FEED_EVENTS_MAX: usize = 10_000;

/// Where an event sits in the feed: after `index`, committed events before local ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    index: u64,
    local: bool,
    sub: u32,
}

impl Position {
    /// Parses a `Last-Event-ID` (`"1234"` or `"1234.2"`); `None` if it is neither.
    pub fn parse(raw: &str) -> Option<Self> {
        let (index, sub) = match raw.trim().split_once('.') {
            Some((index, sub)) => (index.parse().ok()?, sub.parse().ok()?),
            None => (raw.trim().parse().ok()?, 0),
        };
        Some(Self { index, local: false, sub })
    }

    /// The raft index this position follows.
    pub fn index(&self) -> u64 {
        self.index
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.sub {
            0 => write!(f, "{}", self.index),
            sub => write!(f, "{}.{sub}", self.index),
        }
    }
}

/// One event as clients see it.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedEvent {
    /// Its place in the feed.
    pub position: Position,
    /// Its sequence number on this node (gapless; for cursors, not for clients).
    pub seq: u64,
    /// The JSON body: `id` (committed events only), `kind`, `index`, `at_ms` and the kind's fields.
    pub body: Value,
}

impl FeedEvent {
    /// The SSE id: committed events only (a local event leaves the client's last id as it was).
    pub fn id(&self) -> Option<String> {
        (!self.position.local).then(|| self.position.to_string())
    }
}

/// What a reader gets from [`Feed::read`].
#[derive(Debug, PartialEq)]
pub enum Read {
    /// Events after the cursor (possibly none yet), and the cursor to read from next.
    Events(Vec<FeedEvent>, u64),
    /// Events after the cursor are no longer held: start again from the oldest held.
    Gap {
        /// The cursor to continue from.
        next: u64,
        /// The lowest raft index whose events are still all held.
        held_from: u64,
    },
}

/// The node's change feed; shared by the driver (writer) and HTTP handlers (readers).
#[derive(Debug)]
pub struct Feed {
    inner: Mutex<Inner>,
    head: watch::Sender<u64>,
}

#[derive(Debug)]
struct Inner {
    events: VecDeque<FeedEvent>,
    next_seq: u64,
    /// Events at or below this index are not all held (evicted, or before a restored snapshot).
    floor: u64,
    applied: u64,
    next_sub: u32,
    next_local: u32,
    leader: Option<NodeId>,
}

impl Feed {
    /// An empty feed whose events start after `applied` (the index the node recovered at).
    pub fn new(applied: LogIndex) -> Self {
        let inner = Inner {
            events: VecDeque::new(),
            next_seq: 0,
            floor: applied.0,
            applied: applied.0,
            next_sub: 0,
            next_local: 0,
            leader: None,
        };
        Self { inner: Mutex::new(inner), head: watch::channel(0).0 }
    }

    /// Records what a core event means for clients.
    pub fn record(&self, event: &Event, at_ms: u64) {
        let mut inner = self.lock();
        match event {
            Event::Applied { index, change } => {
                inner.advance(index.0);
                for (kind, fields) in describe_change(change) {
                    inner.push(Some(index.0), kind, fields, at_ms);
                }
            }
            Event::RoleChanged { term, leader, .. } => {
                if leader.is_some() && inner.leader != *leader {
                    let fields = json!({ "term": term.0, "leader": leader.map(|l| l.0) });
                    inner.push(None, "leader_changed", fields, at_ms);
                }
                inner.leader = *leader;
            }
            Event::SnapshotRestored { index } => {
                inner.floor = inner.floor.max(index.0);
                inner.advance(index.0);
                let fields = json!({ "reason": "this node installed a snapshot of the namespace" });
                inner.push(None, "reset", fields, at_ms);
            }
            Event::Rejected { index, .. } => inner.advance(index.0),
            Event::LogCompacted { .. }
            | Event::WriteQuorumMet { .. }
            | Event::GarbageFound { .. } => {}
            Event::Halted { index } => {
                let reason = "a committed log entry does not decode; this node stopped applying";
                inner.push(None, "halted", json!({ "index": index.0, "reason": reason }), at_ms);
            }
        }
        self.head.send_replace(inner.next_seq);
    }

    /// Records a job this node starts, if clients care about it (repair copies).
    pub fn record_job(&self, spec: &JobSpec, at_ms: u64) {
        if let JobSpec::CopyChunk { chunk, from, to } = spec {
            let mut inner = self.lock();
            let fields = json!({ "chunk": chunk.0.to_hex(), "from": from.0, "to": to.0 });
            inner.push(None, "repair_started", fields, at_ms);
            self.head.send_replace(inner.next_seq);
        }
    }

    /// Where to start reading: after `resume` if given (a reconnecting client), else at the head.
    pub fn cursor(&self, resume: Option<Position>) -> Read {
        let inner = self.lock();
        let Some(after) = resume else { return Read::Events(Vec::new(), inner.next_seq) };
        let oldest = inner.events.front().map_or(inner.next_seq, |e| e.seq);
        if after.index < inner.floor {
            return Read::Gap { next: oldest, held_from: inner.floor + 1 };
        }
        let next =
            inner.events.iter().find(|e| e.position > after).map_or(inner.next_seq, |e| e.seq);
        Read::Events(Vec::new(), next)
    }

    /// A cursor `recent` events back from the head (fewer if fewer are held): a new client's
    /// backlog.
    pub fn recent(&self, recent: usize) -> u64 {
        let inner = self.lock();
        let back = u64::try_from(recent.min(inner.events.len())).unwrap_or(0);
        inner.next_seq - back
    }

    /// Up to `max` events from `cursor` on.
    pub fn read(&self, cursor: u64, max: usize) -> Read {
        let inner = self.lock();
        let oldest = inner.events.front().map_or(inner.next_seq, |e| e.seq);
        if cursor < oldest {
            return Read::Gap { next: oldest, held_from: inner.floor + 1 };
        }
        let skip = usize::try_from(cursor - oldest).unwrap_or(usize::MAX);
        let events: Vec<FeedEvent> = inner.events.iter().skip(skip).take(max).cloned().collect();
        let next = events.last().map_or(cursor, |e| e.seq + 1);
        Read::Events(events, next)
    }

    /// Changes whenever an event is recorded.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Inner {
    /// Moves to entry `index`: its events number on from 0.
    fn advance(&mut self, index: u64) {
        if index != self.applied {
            self.applied = index;
            self.next_sub = 0;
            self.next_local = 0;
        }
    }

    /// Appends an event: committed at `index`, or local (after the last applied entry).
    fn push(&mut self, index: Option<u64>, kind: &'static str, fields: Value, at_ms: u64) {
        let position = match index {
            Some(index) => {
                let sub = self.next_sub;
                self.next_sub += 1;
                Position { index, local: false, sub }
            }
            None => {
                let sub = self.next_local;
                self.next_local += 1;
                Position { index: self.applied, local: true, sub }
            }
        };
        let mut body = Map::new();
        if !position.local {
            body.insert("id".into(), json!(position.to_string()));
        }
        body.insert("kind".into(), json!(kind));
        body.insert("index".into(), json!(position.index));
        body.insert("at_ms".into(), json!(at_ms));
        if let Value::Object(fields) = fields {
            body.extend(fields);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.events.push_back(FeedEvent { position, seq, body: Value::Object(body) });
        // Evict whole entries, so that `floor` means every event at or below it is gone.
        while self.events.len() > FEED_EVENTS_MAX {
            let Some(evicted) = self.events.pop_front() else { break };
            self.floor = self.floor.max(evicted.position.index);
            while self.events.front().is_some_and(|e| e.position.index <= self.floor) {
                self.events.pop_front();
            }
        }
    }
}

/// A grant's access as events name it: `read`, `write`, or `none` once revoked.
fn access_name(access: Option<dfs_core::command::Access>) -> &'static str {
    match access {
        Some(dfs_core::command::Access::Read) => "read",
        Some(dfs_core::command::Access::Write) => "write",
        None => "none",
    }
}

/// The client-facing events of one committed change: kind and fields.
fn describe_change(change: &Change) -> Vec<(&'static str, Value)> {
    match change {
        Change::FolderCreated { path } => vec![("folder_added", json!({ "path": path.as_str() }))],
        Change::FileWritten { path, version, size_bytes, hash, created } => {
            let kind = if *created { "file_added" } else { "file_changed" };
            let fields = json!({
                "path": path.as_str(), "version": version.0,
                "size_bytes": size_bytes, "hash": hash.to_hex(),
            });
            vec![(kind, fields)]
        }
        Change::FileDeleted { path, version } => {
            vec![("file_removed", json!({ "path": path.as_str(), "version": version.0 }))]
        }
        Change::FolderDeleted { path } => {
            vec![("folder_removed", json!({ "path": path.as_str() }))]
        }
        Change::CheckpointCreated { path, name, version } => vec![(
            "checkpoint_created",
            json!({ "path": path.as_str(), "name": name, "version": version.0 }),
        )],
        Change::GrantChanged { path, user, access } => vec![(
            "acl_changed",
            json!({ "path": path.as_str(), "user": user.0, "access": access_name(*access) }),
        )],
        Change::NodeAdded { node, role } => {
            let role = match role {
                MemberRole::Voter => "voter",
                MemberRole::Learner => "learner",
            };
            vec![("node_joined", json!({ "node": node.0, "role": role }))]
        }
        Change::NodeRemoved { node } => vec![("node_removed", json!({ "node": node.0 }))],
        Change::NodeStateChanged { node, state } => {
            let state = match state {
                DeclaredState::Active => "active",
                DeclaredState::Draining => "draining",
            };
            vec![("node_state", json!({ "node": node.0, "state": state }))]
        }
        Change::NodeHealthChanged { node, health } => {
            let kind = match health {
                dfs_core::health::Health::Up => "node_up",
                dfs_core::health::Health::Suspect => "node_suspect",
                dfs_core::health::Health::Down => "node_down",
                dfs_core::health::Health::Lost => "node_lost",
            };
            vec![(kind, json!({ "node": node.0 }))]
        }
        Change::ReplicasUpdated { added, removed } => {
            let added = added.iter().map(|(chunk, node)| {
                ("repair_finished", json!({ "chunk": chunk.0.to_hex(), "node": node.0 }))
            });
            let removed = removed.iter().map(|(chunk, node)| {
                ("copy_dropped", json!({ "chunk": chunk.0.to_hex(), "node": node.0 }))
            });
            added.chain(removed).collect()
        }
        Change::Moved { from, to, folder } => {
            vec![("moved", json!({ "from": from.as_str(), "to": to.as_str(), "folder": folder }))]
        }
        Change::TreeDeleted { files, folders, .. } => {
            let files = files.iter().map(|(path, version)| {
                ("file_removed", json!({ "path": path.as_str(), "version": version.0 }))
            });
            let folders =
                folders.iter().map(|path| ("folder_removed", json!({ "path": path.as_str() })));
            files.chain(folders).collect()
        }
        Change::RetentionSet { keep_versions } => {
            vec![("retention_changed", json!({ "keep_versions": keep_versions }))]
        }
        Change::Barrier => Vec::new(),
        Change::UserAdded { user, admin } => {
            vec![("user_added", json!({ "user": user.0, "admin": admin }))]
        }
        Change::UserRemoved { user, .. } => vec![("user_removed", json!({ "user": user.0 }))],
        // Access keys are credentials: the feed (readable by every user) does not list them.
        Change::AccessKeyAdded { .. } | Change::AccessKeyRemoved { .. } => Vec::new(),
        Change::NodeAddrsSet { node, addrs } => vec![(
            "node_address",
            json!({ "node": node.0, "peer": addrs.peer.to_string(), "http": addrs.http.to_string() }),
        )],
        Change::VersionRemoved { path, version, was_current, current } => {
            match (was_current, current) {
                // Reads now return the version before it.
                (true, Some((latest, size_bytes, hash))) => vec![(
                    "file_changed",
                    json!({
                        "path": path.as_str(), "version": latest.0,
                        "size_bytes": size_bytes, "hash": hash.to_hex(),
                    }),
                )],
                (true, None) => {
                    vec![("file_removed", json!({ "path": path.as_str(), "version": version.0 }))]
                }
                // An older version, or one of a deleted file: what reads return is unchanged.
                (false, _) => vec![(
                    "version_removed",
                    json!({ "path": path.as_str(), "version": version.0 }),
                )],
            }
        }
        Change::Undeleted { path, version, size_bytes, hash } => vec![(
            "file_added",
            json!({
                "path": path.as_str(), "version": version.0,
                "size_bytes": size_bytes, "hash": hash.to_hex(),
            }),
        )],
        // Uploads in progress are not files yet; Complete is a `FileWritten`.
        Change::MultipartCreated { .. }
        | Change::PartStored { .. }
        | Change::MultipartAborted { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
