//! The trace recorder (STYLE "Trace snapshots"): one line per decision,
//! `t=<ms> <node> <op> <summary>`, with no addresses, wall time or payload dumps, hashed as it
//! grows so two runs can be compared byte for byte without keeping every line.

use crate::command::{Change, Command, Reply};
use crate::ids::{Hash, NodeId};
use crate::output::{Event, JobSpec, Output};
use crate::time::Instant;
use crate::wire::Message;

/// A run's trace: its hash always, its lines when asked to keep them.
pub struct Trace {
    keep_lines: bool,
    lines: Vec<String>,
    hasher: blake3::Hasher,
    line_count: u64,
}

impl Trace {
    /// A trace that keeps its lines when `keep_lines` (snapshots), or only hashes them.
    pub fn new(keep_lines: bool) -> Self {
        Self { keep_lines, lines: Vec::new(), hasher: blake3::Hasher::new(), line_count: 0 }
    }

    /// Records one line for `node` at `now`.
    pub fn record(&mut self, now: Instant, node: NodeId, text: &str) {
        let line = format!("t={:<5} {node} {text}", now.as_millis());
        self.hasher.update(line.as_bytes());
        self.hasher.update(b"\n");
        self.line_count += 1;
        if self.keep_lines {
            self.lines.push(line);
        }
    }

    /// The kept lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Lines recorded, kept or not.
    pub fn line_count(&self) -> u64 {
        self.line_count
    }

    /// blake3 over every line recorded so far.
    pub fn hash(&self) -> Hash {
        Hash(*self.hasher.finalize().as_bytes())
    }
}

/// The trace text for one output.
pub fn describe_output(output: &Output) -> String {
    match output {
        Output::Send { to, message: Message::Raft(raft) } => format!("-> {to} {}", raft.summary()),
        Output::Send { to, message: Message::Heartbeat(usage) } => {
            format!("-> {to} Heartbeat used={} chunks={}", usage.used_bytes, usage.chunk_count)
        }
        Output::Send { to, message: Message::View(view) } => {
            format!("-> {to} View nodes={}", view.nodes.len())
        }
        Output::Persist { ready, write } => {
            let mut text = format!("=> persist {ready}");
            if let Some(snapshot) = &write.snapshot {
                text += &format!(" snapshot@{}", snapshot.get_metadata().index);
            }
            if let (Some(first), Some(last)) = (write.entries.first(), write.entries.last()) {
                text += &format!(" entries={}..{}", first.index, last.index);
            }
            if let Some(hs) = &write.hard_state {
                text += &format!(" hs=term{}/vote{}/commit{}", hs.term, hs.vote, hs.commit);
            }
            if let Some(compacted) = &write.compacted {
                text += &format!(" compacted@{}", compacted.get_metadata().index);
            }
            text
        }
        Output::StartJob { job, spec: JobSpec::StoreChunk { upload, chunk, to } } => {
            format!("=> start {job} store {chunk} of {upload} on {to}")
        }
        Output::StartJob { job, spec: JobSpec::DeleteChunk { chunk } } => {
            format!("=> start {job} delete {chunk}")
        }
        Output::StartJob { job, spec } => format!("=> start {job} {spec:?}"),
        Output::Uploaded { upload, result: Ok(written) } => {
            let replicas: Vec<String> =
                written.replicas.iter().map(|(n, o)| format!("{n}={o:?}")).collect();
            format!(
                "-> client {upload} ok {} {} replicas=[{}]",
                written.index,
                describe_change(&written.change),
                replicas.join(" ")
            )
        }
        Output::Uploaded { upload, result: Err(error) } => {
            format!("-> client {upload} err {error}")
        }
        Output::Reply { request, result: Ok(Reply::Applied { index, change }) } => {
            format!("-> client {request} ok {index} {}", describe_change(change))
        }
        Output::Reply { request, result: Err(error) } => format!("-> client {request} err {error}"),
        Output::Readable { request, result: Ok(index) } => {
            format!("-> client {request} read {index}")
        }
        Output::Readable { request, result: Err(error) } => {
            format!("-> client {request} read err {error}")
        }
        Output::Recovered { request, summary } => {
            format!("-> client {request} recovered {summary:?}")
        }
        Output::Event(event) => format!("** {}", describe_event(event)),
    }
}

fn describe_event(event: &Event) -> String {
    match event {
        Event::RoleChanged { term, role, leader } => {
            let leader = leader.map_or("none".to_owned(), |l| l.to_string());
            format!("{} {term} leader={leader}", role.as_str())
        }
        Event::Applied { index, change } => format!("applied {index} {}", describe_change(change)),
        Event::Rejected { index, error } => format!("rejected {index} {error}"),
        Event::SnapshotRestored { index } => format!("restored snapshot@{index}"),
        Event::LogCompacted { index } => format!("compacted log@{index}"),
        Event::WriteQuorumMet { upload } => format!("quorum met {upload}"),
        Event::GarbageFound { chunks } => format!("garbage {chunks} chunk(s)"),
        Event::Halted { index } => format!("halted at {index}"),
    }
}

/// The trace text for a change.
pub fn describe_change(change: &Change) -> String {
    match change {
        Change::FolderCreated { path } => format!("mkdir {path}"),
        Change::FileWritten { path, version, size_bytes, hash, .. } => {
            format!("write {path} {version} len={size_bytes} hash={hash}")
        }
        Change::FileDeleted { path, version } => format!("delete {path} {version}"),
        Change::FolderDeleted { path } => format!("rmdir {path}"),
        Change::CheckpointCreated { path, name, version } => {
            format!("checkpoint {path} {name:?} {version}")
        }
        Change::GrantChanged { path, user, access } => format!("grant {path} {user} {access:?}"),
        Change::NodeAdded { node, role } => format!("add-node {node} {role:?}"),
        Change::NodeRemoved { node } => format!("remove-node {node}"),
        Change::NodeStateChanged { node, state } => format!("node-state {node} {state:?}"),
        Change::NodeHealthChanged { node, health } => format!("health {node} {}", health.as_str()),
        Change::ReplicasUpdated { added, removed } => {
            format!("replicas +{} -{}", added.len(), removed.len())
        }
        Change::Moved { from, to, .. } => format!("move {from} {to}"),
        Change::TreeDeleted { path, files, folders } => {
            format!("delete-tree {path} files={} folders={}", files.len(), folders.len())
        }
        Change::RetentionSet { keep_versions } => format!("retention {keep_versions}"),
        Change::Barrier => "barrier".to_owned(),
        Change::UserAdded { user, admin } => format!("user-add {user} admin={admin}"),
        Change::UserRemoved { user, grants_removed } => {
            format!("user-rm {user} grants={grants_removed}")
        }
        Change::AccessKeyAdded { id, user } => format!("key-add {id} {user}"),
        Change::AccessKeyRemoved { id, user } => format!("key-rm {id} {user}"),
        Change::NodeAddrsSet { node, addrs } => {
            format!("node-addrs {node} {} {}", addrs.peer, addrs.http)
        }
        Change::VersionRemoved { path, version, current, .. } => {
            let now = current.map_or("none".to_owned(), |(latest, _, _)| latest.to_string());
            format!("version-rm {path} {version} current={now}")
        }
        Change::Undeleted { path, version, .. } => format!("undelete {path} {version}"),
        Change::MultipartCreated { path, upload } => format!("mpu-create {path} {upload}"),
        Change::PartStored { path, upload, number, size_bytes } => {
            format!("mpu-part {path} {upload} #{number} len={size_bytes}")
        }
        Change::MultipartAborted { path, upload, parts } => {
            format!("mpu-abort {path} {upload} parts={parts}")
        }
    }
}

/// The trace text for a client command.
pub fn describe_command(command: &Command) -> String {
    match command {
        Command::CreateFolder { path, .. } => format!("mkdir {path}"),
        Command::PutVersion { path, precondition, content, .. } => format!(
            "put {path} len={} hash={} if={precondition:?}",
            content.size_bytes, content.hash
        ),
        Command::Delete { path, precondition, .. } => format!("rm {path} if={precondition:?}"),
        Command::Checkpoint { path, name, version } => {
            format!("checkpoint {path} {name:?} {version:?}")
        }
        Command::Revert { path, to, .. } => format!("revert {path} {to}"),
        Command::SetGrant { path, user, access } => format!("grant {path} {user} {access:?}"),
        Command::AddNode { node, role } => format!("add-node {node} {role:?}"),
        Command::RemoveNode { node } => format!("remove-node {node}"),
        Command::SetNodeState { node, state } => format!("node-state {node} {state:?}"),
        Command::SetHealth { node, health } => format!("health {node} {}", health.as_str()),
        Command::UpdateReplicas { add, remove } => {
            let list = |pairs: &[(crate::ids::ChunkId, NodeId)]| {
                pairs.iter().map(|(c, n)| format!("{c}@{n}")).collect::<Vec<_>>().join(",")
            };
            format!("replicas add=[{}] remove=[{}]", list(add), list(remove))
        }
        Command::Move { from, to } => format!("mv {from} {to}"),
        Command::DeleteRecursive { path, .. } => format!("rm -r {path}"),
        Command::SetRetention { keep_versions } => format!("retention {keep_versions}"),
        Command::Barrier => "barrier".to_owned(),
        Command::AddUser { user, admin, .. } => format!("user-add {user} admin={admin}"),
        Command::RemoveUser { user } => format!("user-rm {user}"),
        Command::BootstrapAdmin { user, .. } => format!("bootstrap-admin {user}"),
        Command::CreateFolderIn { path, .. } => format!("mkdir {path}"),
        Command::PutObject { put, meta } => {
            format!("s3 {} etag={}", describe_command(put), meta.etag)
        }
        Command::AddAccessKey { key } => format!("key-add {} {}", key.id, key.user),
        Command::RemoveAccessKey { id } => format!("key-rm {id}"),
        Command::SetNodeAddrs { node, addrs } => {
            format!("node-addrs {node} {} {}", addrs.peer, addrs.http)
        }
        Command::RemoveVersion { path, target, .. } => match target {
            crate::command::VersionTarget::Version(version) => {
                format!("version-rm {path} {version}")
            }
            crate::command::VersionTarget::DeleteMarker(index) => {
                format!("marker-rm {path} {index}")
            }
        },
        Command::CreateMultipartUpload { path, .. } => format!("mpu-create {path}"),
        Command::PutPart { path, upload, number, part, .. } => {
            format!("mpu-part {path} {upload} #{number} len={}", part.content.size_bytes)
        }
        Command::CompleteMultipartUpload { path, upload, parts, content, .. } => format!(
            "mpu-complete {path} {upload} parts={} len={} hash={}",
            parts.len(),
            content.size_bytes,
            content.hash
        ),
        Command::AbortMultipartUpload { path, upload } => format!("mpu-abort {path} {upload}"),
    }
}
