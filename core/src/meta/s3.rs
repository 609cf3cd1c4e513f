//! The S3 tables of the namespace (issue 18): access keys, and the object metadata (ETag,
//! content headers, user metadata) of versions written through S3, keyed by (path, version).
//! Metadata is used only while its recorded content hash matches the version's, so a path
//! moved, deleted and rewritten never shows another object's ETag.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::{EntryKind, Namespace, VersionRecord};
use crate::command::{Change, Command};
use crate::error::CommandError;
use crate::ids::{LogIndex, Version};
use crate::path::Path;
use crate::s3::keys::{self, AccessKey};
use crate::s3::multipart::{Completed, MultipartUpload, UploadId};
use crate::s3::ObjectMeta;

/// The S3 state kept in the namespace (snapshot format 6 and later).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct S3Tables {
    /// Access keys by id.
    pub keys: BTreeMap<String, AccessKey>,
    /// Object metadata by (path, version).
    pub objects: BTreeMap<(Path, Version), ObjectMeta>,
    /// Multipart uploads in progress by (object path, upload id) (format 7 and later).
    pub uploads: BTreeMap<(Path, UploadId), MultipartUpload>,
    /// The latest completed uploads by (object path, upload id) (format 7 and later).
    // INVARIANT: at most COMPLETED_REMEMBERED_MAX; no key is also an upload in progress.
    pub completed: BTreeMap<(Path, UploadId), Completed>,
}

impl Namespace {
    /// `PutObject`: applies the wrapped `PutVersion` and records `meta` with the new version.
    pub(super) fn put_object(
        &mut self,
        index: LogIndex,
        put: &Command,
        meta: &ObjectMeta,
    ) -> Result<Change, CommandError> {
        if !matches!(put, Command::PutVersion { .. }) {
            return Err(CommandError::MalformedCommand);
        }
        meta.check().map_err(CommandError::BadObjectMeta)?;
        let change = self.apply_put(index, put)?;
        if let Change::FileWritten { path, version, .. } = &change {
            self.s3.objects.insert((path.clone(), *version), meta.clone());
            self.prune_object_meta(path);
        }
        Ok(change)
    }

    /// Drops the metadata of versions retention removed at `path`.
    pub(super) fn prune_object_meta(&mut self, path: &Path) {
        let kept: Vec<Version> = match self.entries.get(path).map(|e| &e.kind) {
            Some(EntryKind::File(record)) => record.versions.iter().map(|v| v.version).collect(),
            _ => Vec::new(),
        };
        let range = (path.clone(), Version(0))..=(path.clone(), Version(u64::MAX));
        let gone: Vec<(Path, Version)> = self
            .s3
            .objects
            .range(range)
            .map(|(at, _)| at.clone())
            .filter(|(_, version)| !kept.contains(version))
            .collect();
        for at in gone {
            self.s3.objects.remove(&at);
        }
    }

    /// `AddAccessKey`: a new key for an existing user.
    pub(super) fn add_access_key(&mut self, key: &AccessKey) -> Result<Change, CommandError> {
        if self.user(&key.user).is_none() {
            return Err(CommandError::UnknownUser { user: key.user.clone() });
        }
        if !keys::is_valid_id(&key.id) || self.s3.keys.contains_key(&key.id) {
            return Err(CommandError::BadAccessKey { id: key.id.clone() });
        }
        self.s3.keys.insert(key.id.clone(), key.clone());
        Ok(Change::AccessKeyAdded { id: key.id.clone(), user: key.user.clone() })
    }

    /// `RemoveAccessKey`.
    pub(super) fn remove_access_key(&mut self, id: &str) -> Result<Change, CommandError> {
        match self.s3.keys.remove(id) {
            Some(key) => Ok(Change::AccessKeyRemoved { id: key.id, user: key.user }),
            None => Err(CommandError::UnknownAccessKey { id: id.to_owned() }),
        }
    }

    /// The access key `id`, if its user still exists.
    pub fn access_key(&self, id: &str) -> Option<&AccessKey> {
        self.s3.keys.get(id).filter(|key| self.user(&key.user).is_some())
    }

    /// Every access key (of users that still exist), by id.
    pub fn access_keys(&self) -> impl Iterator<Item = &AccessKey> + '_ {
        self.s3.keys.values().filter(|key| self.user(&key.user).is_some())
    }

    /// The S3 metadata recorded with `record` at `path`, if it still describes its content.
    pub fn object_meta(&self, path: &Path, record: &VersionRecord) -> Option<&ObjectMeta> {
        self.s3
            .objects
            .get(&(path.clone(), record.version))
            .filter(|meta| meta.hash == record.content.hash)
    }

    /// The live files below `folder` whose path sorts at or after `folder/` + `start`, in path
    /// order, each with its path below the folder and its latest version. Lazy: a listing
    /// reads only the entries it returns (and the ones it skips on the way).
    pub fn files_from<'a>(
        &'a self,
        folder: &'a Path,
        start: &str,
    ) -> impl Iterator<Item = (&'a str, &'a Path, &'a VersionRecord)> + 'a {
        let prefix = format!("{}/", folder.as_str());
        let from = Path::bound(format!("{prefix}{start}"));
        self.entries
            .range((Bound::Included(from), Bound::Unbounded))
            .map_while(move |(path, entry)| {
                let key = path.as_str().strip_prefix(prefix.as_str())?;
                Some((key, path, entry))
            })
            .filter_map(|(key, path, entry)| match &entry.kind {
                EntryKind::File(record) if !record.is_deleted() => {
                    record.latest().map(|latest| (key, path, latest))
                }
                _ => None,
            })
    }
}
