//! S3 multipart uploads in the namespace (issue 18 point 4; the rules are
//! [`crate::s3::multipart`]): uploads in progress and their parts are replicated state, so they
//! survive a leader change and a node crash, and their chunks count as referenced (GC keeps
//! them, repair brings them to the replication factor) until the upload is completed, aborted or
//! expires. Complete is one entry: it checks the part list, makes the version from the parts'
//! chunks, records the multipart ETag and the upload's headers with it, and drops the upload.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::apply::Write;
use super::Namespace;
use crate::command::{Change, Content, Precondition};
use crate::error::CommandError;
use crate::ids::{ChunkId, LogIndex, NodeId, UnixMillis, UserName};
use crate::path::Path;
use crate::s3::multipart::{
    self as rules, Completed, CompletedPart, MultipartProblem, MultipartUpload, PartRecord,
    UploadHeaders, UploadId,
};
use crate::s3::ObjectMeta;

fn refuse(problem: MultipartProblem) -> CommandError {
    CommandError::Multipart(problem)
}

/// The fields of a `CompleteMultipartUpload`.
pub(super) struct Completion<'a> {
    /// The object's path.
    pub(super) path: &'a Path,
    /// The upload.
    pub(super) upload: UploadId,
    /// The parts named by the client.
    pub(super) parts: &'a [CompletedPart],
    /// The object's content as proposed.
    pub(super) content: &'a Content,
    /// The multipart ETag.
    pub(super) etag: &'a str,
    /// Who completes it.
    pub(super) author: &'a UserName,
    /// When the receiving node accepted it.
    pub(super) created_at: UnixMillis,
}

impl Namespace {
    /// `CreateMultipartUpload`: a new upload at `path` with the id of this entry.
    pub(super) fn create_upload(
        &mut self,
        index: LogIndex,
        path: &Path,
        initiator: &UserName,
        created_at: UnixMillis,
        headers: &UploadHeaders,
    ) -> Result<Change, CommandError> {
        headers.check().map_err(CommandError::BadObjectMeta)?;
        if path.is_root() {
            return Err(CommandError::RootImmutable);
        }
        if self.s3.uploads.len() >= rules::UPLOADS_MAX {
            return Err(refuse(MultipartProblem::TooManyUploads));
        }
        let upload = UploadId(index);
        let record = MultipartUpload {
            initiator: initiator.clone(),
            created_at,
            headers: headers.clone(),
            parts: BTreeMap::new(),
        };
        self.s3.uploads.insert((path.clone(), upload), record);
        Ok(Change::MultipartCreated { path: path.clone(), upload })
    }

    /// `PutPart`: records (or replaces) part `number` and the copies of its chunks.
    pub(super) fn put_part(
        &mut self,
        path: &Path,
        upload: UploadId,
        number: u32,
        part: &PartRecord,
        replicas: &BTreeMap<ChunkId, BTreeSet<NodeId>>,
    ) -> Result<Change, CommandError> {
        rules::check_part_number(number).map_err(refuse)?;
        super::apply::check_content(&part.content)?;
        if part.content.size_bytes > rules::PART_BYTES_MAX {
            return Err(refuse(MultipartProblem::PartTooLarge));
        }
        let Some(record) = self.s3.uploads.get_mut(&(path.clone(), upload)) else {
            return Err(refuse(MultipartProblem::NoSuchUpload));
        };
        record.parts.insert(number, part.clone());
        self.record_replicas(&part.content, replicas);
        let size_bytes = part.content.size_bytes;
        Ok(Change::PartStored { path: path.clone(), upload, number, size_bytes })
    }

    /// `CompleteMultipartUpload`: the version made of the named parts, then the upload goes.
    pub(super) fn complete_upload(
        &mut self,
        index: LogIndex,
        done: &Completion<'_>,
    ) -> Result<Change, CommandError> {
        let at = (done.path.clone(), done.upload);
        let Some(record) = self.s3.uploads.get(&at) else {
            // A retry of a Complete that applied (its reply lost) gets the first answer.
            return match self.s3.completed.get(&at) {
                Some(first) if first.parts == rules::parts_digest(done.parts) => {
                    Ok(first.change.clone())
                }
                _ => Err(refuse(MultipartProblem::NoSuchUpload)),
            };
        };
        let plan = rules::plan_complete(record, done.parts).map_err(refuse)?;
        if !rules::content_matches(&plan, done.content) {
            return Err(refuse(MultipartProblem::PartsChanged));
        }
        let parts_suffix = format!("-{}", plan.md5s.len());
        let meta = ObjectMeta {
            etag: done.etag.to_owned(),
            content_type: record.headers.content_type.clone(),
            content_disposition: record.headers.content_disposition.clone(),
            user: record.headers.user.clone(),
            hash: done.content.hash,
        };
        meta.check().map_err(CommandError::BadObjectMeta)?;
        if !done.etag.ends_with(&parts_suffix) {
            return Err(CommandError::BadObjectMeta(crate::s3::MetaProblem::BadEtag));
        }
        let write = Write {
            index,
            content: done.content,
            author: done.author,
            created_at: done.created_at,
        };
        let change = self.put_version(done.path, Precondition::None, write)?;
        if let Change::FileWritten { path, version, .. } = &change {
            self.s3.objects.insert((path.clone(), *version), meta);
            self.prune_object_meta(path);
        }
        self.s3.uploads.remove(&at);
        self.remember_completed(at, index, done, &change);
        Ok(change)
    }

    /// Remembers a completion, forgetting the oldest beyond the bound.
    fn remember_completed(
        &mut self,
        at: (Path, UploadId),
        index: LogIndex,
        done: &Completion<'_>,
        change: &Change,
    ) {
        let completed = Completed {
            index,
            parts: rules::parts_digest(done.parts),
            etag: done.etag.to_owned(),
            change: change.clone(),
        };
        self.s3.completed.insert(at, completed);
        while self.s3.completed.len() > rules::COMPLETED_REMEMBERED_MAX {
            let oldest =
                self.s3.completed.iter().min_by_key(|(_, c)| c.index).map(|(k, _)| k.clone());
            match oldest {
                Some(key) => self.s3.completed.remove(&key),
                None => break,
            };
        }
    }

    /// The completion of `upload` at `path`, if it is among the remembered ones.
    pub fn completed_upload(&self, path: &Path, upload: UploadId) -> Option<&Completed> {
        self.s3.completed.get(&(path.clone(), upload))
    }

    /// `AbortMultipartUpload`: forgets the upload and its parts.
    pub(super) fn abort_upload(
        &mut self,
        path: &Path,
        upload: UploadId,
    ) -> Result<Change, CommandError> {
        match self.s3.uploads.remove(&(path.clone(), upload)) {
            Some(record) => {
                let parts = record.parts.len();
                Ok(Change::MultipartAborted { path: path.clone(), upload, parts })
            }
            None => Err(refuse(MultipartProblem::NoSuchUpload)),
        }
    }

    /// The upload `upload` at `path`, if in progress.
    pub fn multipart_upload(&self, path: &Path, upload: UploadId) -> Option<&MultipartUpload> {
        self.s3.uploads.get(&(path.clone(), upload))
    }

    /// The uploads in progress below `folder` whose path sorts at or after `folder/` + `start`,
    /// in (path, id) order, each with its key below the folder. Lazy, like
    /// [`Namespace::files_from`].
    pub fn uploads_from<'a>(
        &'a self,
        folder: &'a Path,
        start: &str,
    ) -> impl Iterator<Item = (&'a str, UploadId, &'a MultipartUpload)> + 'a {
        let prefix = format!("{}/", folder.as_str());
        let from = (Path::bound(format!("{prefix}{start}")), UploadId(LogIndex(0)));
        self.s3.uploads.range((Bound::Included(from), Bound::Unbounded)).map_while(
            move |((path, id), upload)| {
                let key = path.as_str().strip_prefix(prefix.as_str())?;
                Some((key, *id, upload))
            },
        )
    }

    /// Every upload in progress: (path, id, upload), in that order.
    pub fn multipart_uploads(
        &self,
    ) -> impl Iterator<Item = (&Path, UploadId, &MultipartUpload)> + '_ {
        self.s3.uploads.iter().map(|((path, id), upload)| (path, *id, upload))
    }

    /// The uploads abandoned for `expire` at `now` (created that long ago and neither completed
    /// nor aborted), at most `max`, in (path, id) order: the leader proposes their aborts.
    pub fn expired_uploads(
        &self,
        now: UnixMillis,
        expire: std::time::Duration,
        max: usize,
    ) -> Vec<(Path, UploadId)> {
        self.s3
            .uploads
            .iter()
            .filter(|(_, upload)| rules::expired(upload.created_at, now, expire))
            .take(max)
            .map(|(at, _)| at.clone())
            .collect()
    }
}
