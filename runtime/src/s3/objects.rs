//! Object operations on the native read and write paths: PutObject streams the body through
//! the chunker into core's upload machine (MD5 computed on the way, recorded with the version
//! as its ETag), GetObject streams hash-checked chunks (one range) of the latest version or of
//! the one a `versionId` names (deletes are in `deletes`).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use dfs_core::auth::Need;
use dfs_core::command::Precondition;
use dfs_core::ids::{LogIndex, NodeId, UnixMillis};
use dfs_core::meta::{EntryKind, VersionRecord};
use dfs_core::s3::versions::VersionId;
use dfs_core::s3::{self as rules, ObjectMeta};
use dfs_core::write::UploadStart;
use dfs_core::Path;
use futures_util::StreamExt;
use s3s::crypto::{Checksum, Md5};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::errors::{self, error};
use super::Dfs;
use crate::http::write::{stream_body, too_large, upload_error, Streamed};
use crate::http::{now_millis, ApiError};

/// An object as a read sees it: its latest version, S3 metadata (if written through S3) and
/// where its chunks are.
pub(super) struct Found {
    pub(super) record: VersionRecord,
    pub(super) meta: Option<ObjectMeta>,
    pub(super) replicas: Vec<Vec<NodeId>>,
}

impl Found {
    /// The ETag: the recorded MD5 (or multipart ETag); for a version written natively, which
    /// has no MD5, a tag from its blake3 that no client mistakes for an MD5.
    pub(super) fn etag(&self) -> String {
        etag_of(self.meta.as_ref(), &self.record)
    }

    fn last_modified(&self) -> Timestamp {
        timestamp(self.record.created_at)
    }
}

/// The ETag of `record` with its S3 metadata `meta` (see [`Found::etag`]).
pub(super) fn etag_of(meta: Option<&ObjectMeta>, record: &VersionRecord) -> String {
    match meta {
        Some(meta) => meta.etag.clone(),
        None => format!("b3-{}", &record.content.hash.to_hex()[..32]),
    }
}

/// A wall-clock time as S3's timestamp.
pub(super) fn timestamp(at: UnixMillis) -> Timestamp {
    Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_millis(at.0))
}

/// The latest version of the live file at `path`, with what a read needs.
pub(super) async fn find(dfs: &Dfs, path: &Path, key: &str) -> S3Result<Found> {
    find_version(dfs, path, key, None).await
}

/// What a `versionId` names (`InvalidArgument` for an id dfs never gives out).
pub(super) fn version_id(raw: Option<&str>) -> S3Result<Option<VersionId>> {
    raw.map(|raw| {
        VersionId::parse(raw)
            .ok_or_else(|| error(S3ErrorCode::InvalidArgument, "invalid version id"))
    })
    .transpose()
}

/// Why a read found no version to return.
enum Miss {
    /// Nothing is there (or a folder).
    NoKey,
    /// The file keeps no version by that id.
    NoVersion,
    /// The file is deleted: its delete marker is current (`named`: the request named it).
    Marker { index: LogIndex, named: bool },
}

/// [`find`], or the version `version` names (a dfs version: `dfs history` lists them). A
/// deleted file answers S3's delete-marker errors: `404 NoSuchKey` for its latest,
/// `405 MethodNotAllowed` for its marker's own id, both with `x-amz-delete-marker: true`.
async fn find_version(
    dfs: &Dfs,
    path: &Path,
    key: &str,
    version: Option<VersionId>,
) -> S3Result<Found> {
    let at = path.clone();
    let found = dfs
        .api
        .driver
        .query(move |node| {
            let namespace = node.status().namespace;
            let record = match namespace.entry(&at).map(|entry| &entry.kind) {
                Some(EntryKind::File(record)) => record,
                Some(EntryKind::Folder) | None => return Err(Miss::NoKey),
            };
            let marker = record.deleted.map(|tombstone| tombstone.index);
            let ignore_marker = crate::planted::active(crate::planted::Bug::S3IgnoresDeleteMarker);
            let marker = marker.filter(|_| !ignore_marker);
            let kept = match (version, marker) {
                (None, Some(index)) => return Err(Miss::Marker { index, named: false }),
                (None, None) => record.latest(),
                (Some(VersionId::DeleteMarker(named)), Some(index)) if named == index => {
                    return Err(Miss::Marker { index, named: true })
                }
                (Some(VersionId::Version(number)), _) => record.version(number),
                (Some(_), _) => None,
            };
            let record = kept.ok_or(Miss::NoVersion)?.clone();
            let meta = namespace.object_meta(&at, &record).cloned();
            let replicas = crate::http::read::chunk_replicas(namespace, &record);
            Ok(Found { record, meta, replicas })
        })
        .await
        .map_err(errors::stopped)?;
    found.map_err(|miss| match miss {
        Miss::NoKey => errors::no_key(key),
        Miss::NoVersion => {
            error(S3ErrorCode::NoSuchVersion, format!("{key:?} has no such version"))
        }
        Miss::Marker { index, named } => marker_error(key, index, named),
    })
}

/// A read of a deleted object: `404 NoSuchKey`, or `405 MethodNotAllowed` when the request
/// named the delete marker, with the marker's headers.
fn marker_error(key: &str, index: LogIndex, named: bool) -> S3Error {
    let mut e = if named {
        error(S3ErrorCode::MethodNotAllowed, format!("that version of {key:?} is a delete marker"))
    } else {
        error(S3ErrorCode::NoSuchKey, format!("{key:?} is deleted (its delete marker is current)"))
    };
    let mut headers = axum::http::HeaderMap::new();
    let id = VersionId::DeleteMarker(index).to_string();
    headers.insert("x-amz-delete-marker", axum::http::HeaderValue::from_static("true"));
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        headers.insert("x-amz-version-id", value);
    }
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/xml"),
    );
    e.set_headers(headers);
    e
}

/// The precondition a conditional PUT maps to: `If-None-Match: *` is "absent", `If-Match: E`
/// is "the latest version is the one whose ETag is E" (refused at once when it is not).
async fn put_precondition(
    dfs: &Dfs,
    input: &PutObjectInput,
    path: &Path,
) -> S3Result<Precondition> {
    if let Some(condition) = &input.if_none_match {
        return match condition {
            ETagCondition::Any => Ok(Precondition::Absent),
            ETagCondition::ETag(_) => {
                Err(errors::not_implemented("If-None-Match with an ETag on PutObject"))
            }
        };
    }
    let Some(condition) = &input.if_match else { return Ok(Precondition::None) };
    let failed = || error(S3ErrorCode::PreconditionFailed, "If-Match does not hold");
    let current = find(dfs, path, &input.key).await.map_err(|_| failed())?;
    match condition {
        ETagCondition::Any => Ok(Precondition::Version(current.record.version)),
        ETagCondition::ETag(tag) if tag.value() == current.etag() => {
            Ok(Precondition::Version(current.record.version))
        }
        ETagCondition::ETag(_) => Err(failed()),
    }
}

/// `x-amz-meta-*`, names lowercased.
pub(super) fn user_meta(metadata: Option<&Metadata>) -> std::collections::BTreeMap<String, String> {
    metadata
        .into_iter()
        .flatten()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect()
}

/// PutObject: streamed into the upload machine, never held whole; one raft entry commits the
/// version with its ETag, content headers and user metadata.
pub async fn put(
    dfs: &Dfs,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    let (_, path) = dfs.object(&caller, &input.bucket, &input.key, Need::Write).await?;
    let max = dfs.api.settings.body_bytes_max;
    if input.content_length.and_then(|n| u64::try_from(n).ok()).is_some_and(|n| n > max) {
        return Err(errors::api(too_large(max)));
    }
    let mut meta = ObjectMeta {
        etag: "0".repeat(32),
        content_type: input.content_type.clone(),
        content_disposition: input.content_disposition.clone(),
        user: user_meta(input.metadata.as_ref()),
        hash: dfs_core::ids::Hash([0; 32]),
    };
    check_meta(&meta)?;
    let precondition = put_precondition(dfs, &input, &path).await?;
    let start =
        UploadStart { path, precondition, idempotency_key: None, author: caller.user.clone() };
    let mut md5 = Md5::new();
    let body = input.body.unwrap_or_else(|| {
        StreamingBlob::wrap(futures_util::stream::empty::<Result<Bytes, std::io::Error>>())
    });
    let body_error = |e: s3s::StdError| {
        ApiError::new(axum::http::StatusCode::BAD_REQUEST, "body_error", e.to_string())
    };
    let streamed = stream_body(&dfs.api, start, body, body_error, |frame| md5.update(frame))
        .await
        .map_err(errors::api)?;
    let Streamed { upload, size_bytes, hash, .. } = streamed;
    meta.etag = rules::hex(&md5.finalize());
    meta.hash = hash;
    let etag = meta.etag.clone();
    let written = upload
        .seal_with(size_bytes, hash, now_millis(), Some(meta))
        .await
        .map_err(|e| errors::api(upload_error(e)))?;
    tracing::info!(index = %written.index, size_bytes, etag = %etag, "s3 object written");
    Ok(S3Response::new(PutObjectOutput {
        version_id: written_version(&written.change),
        e_tag: Some(ETag::Strong(etag)),
        size: i64::try_from(size_bytes).ok(),
        ..Default::default()
    }))
}

/// The version id (the dfs version number) a committed write made.
pub(super) fn written_version(change: &dfs_core::Change) -> Option<String> {
    match change {
        dfs_core::Change::FileWritten { version, .. } => Some(version.0.to_string()),
        _ => None,
    }
}

/// The limits core enforces, checked first so the client gets S3's own code.
fn check_meta(meta: &ObjectMeta) -> S3Result<()> {
    match meta.check() {
        Ok(()) => Ok(()),
        Err(rules::MetaProblem::TooLarge) => {
            Err(error(S3ErrorCode::MetadataTooLarge, rules::MetaProblem::TooLarge.to_string()))
        }
        Err(problem) => Err(error(S3ErrorCode::InvalidArgument, problem.to_string())),
    }
}

/// The read conditions: `If-Match` / `If-Unmodified-Since` failing is 412, `If-None-Match` /
/// `If-Modified-Since` holding is 304.
fn check_conditions(
    found: &Found,
    if_match: Option<&IfMatch>,
    if_none_match: Option<&IfNoneMatch>,
    if_modified_since: Option<&IfModifiedSince>,
    if_unmodified_since: Option<&IfUnmodifiedSince>,
) -> S3Result<()> {
    let etag = found.etag();
    let matches = |c: &ETagCondition| match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(tag) => tag.value() == etag,
    };
    // HTTP dates have whole seconds.
    let modified = found.record.created_at.0 / 1000;
    if let Some(condition) = if_match {
        if !matches(condition) {
            return Err(error(S3ErrorCode::PreconditionFailed, "If-Match does not hold"));
        }
    } else if let Some(since) = if_unmodified_since {
        if modified > epoch_secs(since) {
            return Err(error(S3ErrorCode::PreconditionFailed, "modified since then"));
        }
    }
    if let Some(condition) = if_none_match {
        if matches(condition) {
            return Err(S3Error::new(S3ErrorCode::NotModified));
        }
    } else if let Some(since) = if_modified_since {
        if modified <= epoch_secs(since) {
            return Err(S3Error::new(S3ErrorCode::NotModified));
        }
    }
    Ok(())
}

/// Whole seconds since the epoch of an S3 timestamp (0 before it).
fn epoch_secs(at: &Timestamp) -> u64 {
    let mut text = Vec::new();
    let formatted = at.format(TimestampFormat::EpochSeconds, &mut text);
    let text = String::from_utf8(text).unwrap_or_default();
    match formatted {
        Ok(()) => text.split('.').next().and_then(|s| s.parse().ok()).unwrap_or(0),
        Err(_) => 0,
    }
}

/// GetObject: the latest version, or one range of it, streamed chunk by chunk.
pub async fn get(
    dfs: &Dfs,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    if input.part_number.is_some() {
        return Err(errors::not_implemented("GetObject with partNumber"));
    }
    let version = version_id(input.version_id.as_deref())?;
    dfs.linearize().await?;
    let (_, path) = dfs.object(&caller, &input.bucket, &input.key, Need::Read).await?;
    let found = find_version(dfs, &path, &input.key, version).await?;
    check_conditions(
        &found,
        input.if_match.as_ref(),
        input.if_none_match.as_ref(),
        input.if_modified_since.as_ref(),
        input.if_unmodified_since.as_ref(),
    )?;
    let size = found.record.content.size_bytes;
    let (first, last, content_range) = match &input.range {
        None => (0, size.saturating_sub(1), None),
        Some(range) => {
            let within = range
                .check(size)
                .map_err(|_| error(S3ErrorCode::InvalidRange, "range not satisfiable"))?;
            let (first, last) = (within.start, within.end - 1);
            (first, last, Some(format!("bytes {first}-{last}/{size}")))
        }
    };
    let length = if size == 0 { 0 } else { last - first + 1 };
    let stream = crate::http::read::content_stream(
        &dfs.api,
        &found.record,
        found.replicas.clone(),
        first,
        last,
    );
    let body = StreamingBlob::wrap(Pumped::start(stream));
    let meta = found.meta.as_ref();
    let output = GetObjectOutput {
        body: Some(body),
        content_length: i64::try_from(length).ok(),
        content_range,
        accept_ranges: Some("bytes".to_owned()),
        content_type: meta.and_then(|m| m.content_type.clone()),
        content_disposition: meta.and_then(|m| m.content_disposition.clone()),
        metadata: meta.map(|m| m.user.clone().into_iter().collect()),
        e_tag: Some(ETag::Strong(found.etag())),
        last_modified: Some(found.last_modified()),
        version_id: Some(found.record.version.0.to_string()),
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

/// HeadObject: GetObject's headers without the body.
pub async fn head(
    dfs: &Dfs,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    if input.part_number.is_some() {
        return Err(errors::not_implemented("HeadObject with partNumber"));
    }
    let version = version_id(input.version_id.as_deref())?;
    dfs.linearize().await?;
    let (_, path) = dfs.object(&caller, &input.bucket, &input.key, Need::Read).await?;
    let found = find_version(dfs, &path, &input.key, version).await?;
    check_conditions(
        &found,
        input.if_match.as_ref(),
        input.if_none_match.as_ref(),
        input.if_modified_since.as_ref(),
        input.if_unmodified_since.as_ref(),
    )?;
    let meta = found.meta.as_ref();
    let output = HeadObjectOutput {
        content_length: i64::try_from(found.record.content.size_bytes).ok(),
        accept_ranges: Some("bytes".to_owned()),
        content_type: meta.and_then(|m| m.content_type.clone()),
        content_disposition: meta.and_then(|m| m.content_disposition.clone()),
        metadata: meta.map(|m| m.user.clone().into_iter().collect()),
        e_tag: Some(ETag::Strong(found.etag())),
        last_modified: Some(found.last_modified()),
        version_id: Some(found.record.version.0.to_string()),
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

/// A body stream handed to s3s, which wants it `Sync`: a task pumps the chunk fetcher into a
/// channel of [`PUMP_DEPTH`] and this reads the channel. Dropping it (the client went away)
/// ends the task at its next send.
struct Pumped(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>);

/// Chunks the pump holds ahead of the client.
const PUMP_DEPTH: usize = 2;

impl Pumped {
    fn start(
        stream: impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(PUMP_DEPTH);
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        Self(rx)
    }
}

impl futures_util::Stream for Pumped {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
