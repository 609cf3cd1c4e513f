//! Snapshots of a [`Namespace`] and its structural invariants (DESIGN §1 `meta`: "apply, snapshot,
//! restore"; STYLE "Errors": a broken invariant is checked before persist and after restore).
//!
//! Format: one byte [`SNAPSHOT_FORMAT`], then the postcard encoding of the applied index and the
//! entry, retired-version, member, replica and idempotency maps, each as a sequence of
//! `(key, value)` pairs in key order, then (since format 3) the settings, then (since format 4)
//! the user table as `(name, user)` pairs in name order. Since format 5 the idempotency map is
//! keyed by (author, path, key) and remembers each request's fingerprint; the global keys of
//! formats 2 to 4 are dropped on restore (they were not bound to a request, so answering a retry
//! from them could hand one request another's result).
//! Since format 6 the S3 tables follow: access keys as `(id, key)` pairs and object metadata
//! as `((path, version), meta)` pairs, in key order (older formats restore with none).
//! Since format 7 the multipart uploads in progress follow, as `((path, upload id), upload)`
//! pairs in key order, then the remembered completions the same way (older formats restore
//! with none).
//! Since format 8 the member addresses follow as `(node, addrs)` pairs in node order.
//! Equal namespaces give equal bytes. [`Namespace::restore`] accepts only canonical bytes (keys
//! strictly increasing, nothing trailing) describing a namespace that passes
//! [`Namespace::check_invariants`]; anything else is a typed [`SnapshotError`], never a panic.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize, Serializer};

use super::idempotency::{KeyScope, Remembered};
use super::{
    is_valid_checkpoint_name, Entry, EntryKind, FileRecord, Member, Namespace, Settings, User,
};
use crate::command::{Change, IdempotencyKey};
use crate::ids::{ChunkId, Hash, LogIndex, NodeId, UserName, Version};
use crate::membership::MemberAddrs;
use crate::path::Path;
use crate::s3::keys::AccessKey;
use crate::s3::multipart::{check_part_number, Completed, MultipartUpload, UploadId};
use crate::s3::ObjectMeta;

/// The snapshot format this build writes (the first byte of every snapshot). Format 3 is format
/// 2 followed by the [`Settings`]; format 4 is format 3 followed by the user table; format 5 is
/// format 4 with idempotency keys scoped to (author, path) and bound to a request fingerprint.
/// This build reads all four (a format 2 snapshot restores with the default settings, formats 2
/// and 3 with no users: the next leader bootstraps the configured admin; formats 2 to 4 with no
/// idempotency keys).
/// Format 6 is format 5 followed by the S3 tables (access keys, object metadata).
/// Format 7 is format 6 followed by the multipart uploads in progress and the remembered
/// completions.
/// Format 8 is format 7 followed by the member addresses.
pub const SNAPSHOT_FORMAT: u8 = 8;

/// The oldest snapshot format this build still reads.
pub const SNAPSHOT_FORMAT_OLDEST: u8 = 2;

/// Why snapshot bytes could not be restored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The first byte is not a format this build reads.
    #[error("unknown snapshot format {found} (this build reads {supported})")]
    UnknownFormat {
        /// The format byte found.
        found: u8,
        /// The format this build reads.
        supported: u8,
    },
    /// The bytes end before the namespace does (including no bytes at all).
    #[error("snapshot is truncated")]
    Truncated,
    /// The bytes do not decode as a namespace (or hold an invalid path).
    #[error("snapshot bytes do not decode as a namespace")]
    Malformed,
    /// Bytes remain after a complete namespace.
    #[error("{extra_bytes} bytes after the end of the snapshot")]
    TrailingBytes {
        /// How many.
        extra_bytes: usize,
    },
    /// The keys of a map are out of order or repeated.
    #[error("snapshot keys are out of order or repeated")]
    NotCanonical,
    /// The bytes decode, but the namespace they describe breaks an invariant.
    #[error("snapshot describes an inconsistent namespace: {0}")]
    Invalid(#[from] InvariantViolation),
}

/// A structural invariant of the namespace that does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvariantViolation {
    /// There is no root entry.
    #[error("the root folder is missing")]
    MissingRoot,
    /// The root entry is a file.
    #[error("the root is not a folder")]
    RootNotAFolder,
    /// An entry's parent is absent.
    #[error("{path}: parent is missing")]
    Orphan {
        /// The entry.
        path: Path,
    },
    /// An entry's parent is a file.
    #[error("{path}: parent is not a folder")]
    ParentNotAFolder {
        /// The entry.
        path: Path,
    },
    /// A file has no versions.
    #[error("{path}: file has no versions")]
    EmptyHistory {
        /// The file.
        path: Path,
    },
    /// A file's version numbers are not strictly increasing from at least 1.
    #[error("{path}: versions are not strictly increasing from 1")]
    VersionsNotIncreasing {
        /// The file.
        path: Path,
    },
    /// A tombstone does not name the file's last version.
    #[error("{path}: tombstone does not name the last version")]
    TombstoneMismatch {
        /// The file.
        path: Path,
    },
    /// A checkpoint name is empty, too long or holds `/` or NUL.
    #[error("{path}: checkpoint name {name:?} is invalid")]
    BadCheckpointName {
        /// The file.
        path: Path,
        /// The name.
        name: String,
    },
    /// A checkpoint names a version the file does not keep.
    #[error("{path}: checkpoint {name:?} names a missing version")]
    DanglingCheckpoint {
        /// The file.
        path: Path,
        /// The name.
        name: String,
    },
    /// A retired version number not above the latest version of the file at its path.
    #[error("{path}: retired number is not above the file's latest version")]
    RetiredFile {
        /// The path.
        path: Path,
    },
    /// A user table key is not a valid user name.
    #[error("user name {name:?} is invalid")]
    BadUserName {
        /// The name.
        name: String,
    },
    /// A multipart upload holds a part number outside 1 to 10,000.
    #[error("{path}: multipart upload {upload} holds part number {number}")]
    BadPartNumber {
        /// The object's path.
        path: Path,
        /// The upload.
        upload: UploadId,
        /// The part number.
        number: u32,
    },
    /// More completed uploads are remembered than the bound allows.
    #[error("more than the bound of completed multipart uploads are remembered")]
    TooManyCompletions,
    /// The cached live-file count disagrees with the entries.
    #[error("live file count is {recorded}, entries hold {counted}")]
    FileCount {
        /// The cached count.
        recorded: usize,
        /// The count from the entries.
        counted: usize,
    },
}

/// What a snapshot encodes, borrowed from the namespace.
#[derive(Serialize)]
struct Body<'a> {
    applied: LogIndex,
    #[serde(serialize_with = "as_pairs")]
    entries: &'a BTreeMap<Path, Entry>,
    #[serde(serialize_with = "as_pairs")]
    retired: &'a BTreeMap<Path, Version>,
    #[serde(serialize_with = "as_pairs")]
    members: &'a BTreeMap<NodeId, Member>,
    #[serde(serialize_with = "as_pairs")]
    replicas: &'a BTreeMap<ChunkId, BTreeSet<NodeId>>,
    #[serde(serialize_with = "as_pairs")]
    idempotency: &'a BTreeMap<KeyScope, Remembered>,
    // Since format 3.
    settings: Settings,
    // Since format 4.
    #[serde(serialize_with = "as_pairs")]
    users: &'a BTreeMap<UserName, User>,
    // Since format 6.
    #[serde(serialize_with = "as_pairs")]
    s3_keys: &'a BTreeMap<String, AccessKey>,
    #[serde(serialize_with = "as_pairs")]
    s3_objects: &'a BTreeMap<(Path, Version), ObjectMeta>,
    // Since format 7.
    #[serde(serialize_with = "as_pairs")]
    s3_uploads: &'a BTreeMap<(Path, UploadId), MultipartUpload>,
    #[serde(serialize_with = "as_pairs")]
    s3_completed: &'a BTreeMap<(Path, UploadId), Completed>,
    // Since format 8.
    #[serde(serialize_with = "as_pairs")]
    addresses: &'a BTreeMap<NodeId, MemberAddrs>,
}

/// What a snapshot decodes to, before the order of keys and the invariants are checked; `I` is
/// an idempotency record (its shape changed in format 5).
#[derive(Deserialize)]
struct DecodedBody<I> {
    applied: LogIndex,
    entries: Vec<(Path, Entry)>,
    retired: Vec<(Path, Version)>,
    members: Vec<(NodeId, Member)>,
    replicas: Vec<(ChunkId, BTreeSet<NodeId>)>,
    idempotency: Vec<I>,
}

/// An idempotency record of formats 2 to 4: a global key and the outcome it named.
type GlobalKey = (IdempotencyKey, (LogIndex, Change));

impl DecodedBody<GlobalKey> {
    /// The body without its global idempotency keys (see the module docs).
    fn forget_global_keys(self) -> DecodedBody<(KeyScope, Remembered)> {
        let Self { applied, entries, retired, members, replicas, idempotency: _ } = self;
        DecodedBody { applied, entries, retired, members, replicas, idempotency: Vec::new() }
    }
}

/// Encodes a map as a sequence of `(key, value)` pairs, so it decodes as a `Vec` whose order can
/// be checked (decoding straight into a map would silently accept repeated keys).
fn as_pairs<S: Serializer, K: Serialize, V: Serialize>(
    map: &&BTreeMap<K, V>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(map.iter())
}

/// The pairs as a map, if their keys strictly increase.
fn sorted_map<K: Ord, V>(pairs: Vec<(K, V)>) -> Result<BTreeMap<K, V>, SnapshotError> {
    if pairs.windows(2).any(|pair| pair[0].0 >= pair[1].0) {
        return Err(SnapshotError::NotCanonical);
    }
    Ok(pairs.into_iter().collect())
}

impl Namespace {
    /// Deterministic serialized form (see the module docs): equal namespaces give equal bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        let body = Body {
            applied: self.applied,
            entries: &self.entries,
            retired: &self.retired,
            members: &self.members,
            replicas: &self.replicas,
            idempotency: &self.idempotency,
            settings: self.settings,
            users: &self.users,
            s3_keys: &self.s3.keys,
            s3_objects: &self.s3.objects,
            s3_uploads: &self.s3.uploads,
            s3_completed: &self.s3.completed,
            addresses: &self.addresses,
        };
        postcard::to_extend(&body, vec![SNAPSHOT_FORMAT])
            .expect("meta: a namespace always encodes (every sequence has a known length)")
    }

    /// Rebuilds a namespace from [`Namespace::snapshot`] bytes; rejects malformed bytes and
    /// inconsistent states with a [`SnapshotError`] (never panics).
    pub fn restore(bytes: &[u8]) -> Result<Namespace, SnapshotError> {
        let Some((&format, body)) = bytes.split_first() else {
            return Err(SnapshotError::Truncated);
        };
        if !(SNAPSHOT_FORMAT_OLDEST..=SNAPSHOT_FORMAT).contains(&format) {
            return Err(SnapshotError::UnknownFormat { found: format, supported: SNAPSHOT_FORMAT });
        }
        let decode_error = |error| match error {
            postcard::Error::DeserializeUnexpectedEnd => SnapshotError::Truncated,
            _ => SnapshotError::Malformed,
        };
        // Format 5 changed the shape of the idempotency records.
        let (decoded, rest) = if format >= 5 {
            postcard::take_from_bytes::<DecodedBody<(KeyScope, Remembered)>>(body)
                .map_err(decode_error)?
        } else {
            let (old, rest) =
                postcard::take_from_bytes::<DecodedBody<GlobalKey>>(body).map_err(decode_error)?;
            (old.forget_global_keys(), rest)
        };
        // Format 3 appends the settings to the format 2 body.
        let (settings, rest) = if format >= 3 {
            postcard::take_from_bytes::<Settings>(rest).map_err(decode_error)?
        } else {
            (Settings::default(), rest)
        };
        // Format 4 appends the user table.
        let (users, rest) = if format >= 4 {
            postcard::take_from_bytes::<Vec<(UserName, User)>>(rest).map_err(decode_error)?
        } else {
            (Vec::new(), rest)
        };
        // Format 6 appends the S3 tables.
        type S3Pairs = (Vec<(String, AccessKey)>, Vec<((Path, Version), ObjectMeta)>);
        let ((s3_keys, s3_objects), rest) = if format >= 6 {
            postcard::take_from_bytes::<S3Pairs>(rest).map_err(decode_error)?
        } else {
            ((Vec::new(), Vec::new()), rest)
        };
        // Format 7 appends the multipart uploads.
        type UploadPairs =
            (Vec<((Path, UploadId), MultipartUpload)>, Vec<((Path, UploadId), Completed)>);
        let ((s3_uploads, s3_completed), rest) = if format >= 7 {
            postcard::take_from_bytes::<UploadPairs>(rest).map_err(decode_error)?
        } else {
            ((Vec::new(), Vec::new()), rest)
        };
        // Format 8 appends the member addresses.
        let (addresses, rest) = if format >= 8 {
            postcard::take_from_bytes::<Vec<(NodeId, MemberAddrs)>>(rest).map_err(decode_error)?
        } else {
            (Vec::new(), rest)
        };
        if addresses.iter().any(|(node, addrs)| crate::membership::check(*node, addrs).is_err()) {
            return Err(SnapshotError::Malformed);
        }
        if !rest.is_empty() {
            return Err(SnapshotError::TrailingBytes { extra_bytes: rest.len() });
        }
        let entries = sorted_map(decoded.entries)?;
        let idempotency_order: BTreeMap<LogIndex, KeyScope> = decoded
            .idempotency
            .iter()
            .map(|(scope, remembered)| (remembered.index, scope.clone()))
            .collect();
        if idempotency_order.len() != decoded.idempotency.len() {
            // Two keys recorded at one log index: no apply makes that.
            return Err(SnapshotError::NotCanonical);
        }
        let live_files = entries.values().filter(|entry| is_live_file(entry)).count();
        let namespace = Namespace {
            entries,
            retired: sorted_map(decoded.retired)?,
            members: sorted_map(decoded.members)?,
            replicas: sorted_map(decoded.replicas)?,
            idempotency_order,
            idempotency: sorted_map(decoded.idempotency)?,
            applied: decoded.applied,
            live_files,
            settings,
            users: sorted_map(users)?,
            s3: super::s3::S3Tables {
                keys: sorted_map(s3_keys)?,
                objects: sorted_map(s3_objects)?,
                uploads: sorted_map(s3_uploads)?,
                completed: sorted_map(s3_completed)?,
            },
            addresses: sorted_map(addresses)?,
        };
        namespace.check_invariants()?;
        Ok(namespace)
    }

    /// blake3 of [`Namespace::snapshot`]: compares replicas cheaply.
    pub fn digest(&self) -> Hash {
        Hash::of(&self.snapshot())
    }

    /// Checks every structural invariant: the root is a folder; every other entry's parent is a
    /// folder; every file has versions strictly increasing from 1, a tombstone (if any) naming its
    /// last version and valid checkpoints naming kept versions; a retired number at a path that
    /// holds a file is above its latest version; the
    /// live-file count is right. `restore` runs it; so can invariant checkers.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        match self.entries.get(&Path::root()) {
            None => return Err(InvariantViolation::MissingRoot),
            Some(root) if !root.is_folder() => return Err(InvariantViolation::RootNotAFolder),
            Some(_) => {}
        }
        let mut counted = 0;
        for (path, entry) in &self.entries {
            if let Some(parent) = path.parent() {
                match self.entries.get(&parent) {
                    None => return Err(InvariantViolation::Orphan { path: path.clone() }),
                    Some(parent) if !parent.is_folder() => {
                        return Err(InvariantViolation::ParentNotAFolder { path: path.clone() });
                    }
                    Some(_) => {}
                }
            }
            if let EntryKind::File(record) = &entry.kind {
                check_file(path, record)?;
            }
            counted += usize::from(is_live_file(entry));
        }
        // A path that holds a file may remember only a number above the file's latest.
        let stale = |(path, used): (&Path, &Version)| {
            let file = self.entries.get(path).and_then(Entry::file);
            file.is_some_and(|record| *used <= record.latest_version())
        };
        if let Some((path, _)) = self.retired.iter().find(|&at| stale(at)) {
            return Err(InvariantViolation::RetiredFile { path: path.clone() });
        }
        if let Some(name) = self.users.keys().find(|name| UserName::parse(&name.0).is_none()) {
            return Err(InvariantViolation::BadUserName { name: name.0.clone() });
        }
        if self.s3.completed.len() > crate::s3::multipart::COMPLETED_REMEMBERED_MAX {
            return Err(InvariantViolation::TooManyCompletions);
        }
        for ((path, upload), record) in &self.s3.uploads {
            if let Some(&number) = record.parts.keys().find(|n| check_part_number(**n).is_err()) {
                let (path, upload) = (path.clone(), *upload);
                return Err(InvariantViolation::BadPartNumber { path, upload, number });
            }
        }
        if counted != self.live_files {
            return Err(InvariantViolation::FileCount { recorded: self.live_files, counted });
        }
        Ok(())
    }
}

/// Whether `entry` is a file that is not deleted.
fn is_live_file(entry: &Entry) -> bool {
    entry.file().is_some_and(|record| !record.is_deleted())
}

/// The invariants of one file record.
fn check_file(path: &Path, record: &FileRecord) -> Result<(), InvariantViolation> {
    let (Some(first), Some(last)) = (record.versions.first(), record.versions.last()) else {
        return Err(InvariantViolation::EmptyHistory { path: path.clone() });
    };
    let increasing = record.versions.windows(2).all(|pair| pair[0].version < pair[1].version);
    if first.version.0 == 0 || !increasing {
        return Err(InvariantViolation::VersionsNotIncreasing { path: path.clone() });
    }
    if record.deleted.is_some_and(|tombstone| tombstone.version != last.version) {
        return Err(InvariantViolation::TombstoneMismatch { path: path.clone() });
    }
    for (name, &version) in &record.checkpoints {
        if !is_valid_checkpoint_name(name) {
            let name = name.clone();
            return Err(InvariantViolation::BadCheckpointName { path: path.clone(), name });
        }
        if record.version(version).is_none() {
            let name = name.clone();
            return Err(InvariantViolation::DanglingCheckpoint { path: path.clone(), name });
        }
    }
    Ok(())
}
