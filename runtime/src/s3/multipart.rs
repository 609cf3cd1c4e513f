//! Multipart uploads (docs/s3.md; the rules are `dfs_core::s3::multipart`). The upload and its
//! parts are raft-replicated namespace state, so any node serves every step and an upload
//! survives the loss of the node a client used. UploadPart streams the body through the chunker
//! into the upload machine, like PutObject, and commits a `PutPart` once every chunk has its
//! write quorum; UploadPartCopy references the source's chunks (a range is read and stored as
//! new chunks); Complete is one raft entry making a version from the parts' chunks, after one
//! hash-checked read of the parts for the object's whole blake3 (see the core module docs).

use dfs_core::auth::{Caller, Need};
use dfs_core::command::{Command, Content, Precondition};
use dfs_core::ids::{ChunkId, Hash, NodeId};
use dfs_core::s3::multipart::{
    self as rules, CompletePlan, CompletedPart, MultipartProblem, MultipartUpload, UploadHeaders,
    UploadId,
};
use dfs_core::s3::{self as s3_rules};
use dfs_core::write::{PartSeal, UploadStart};
use dfs_core::{Change, CommandError, Path};
use futures_util::StreamExt;
use s3s::crypto::{Checksum, Md5};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::errors::{self, error};
use super::objects::{find, timestamp, user_meta, Found};
use super::Dfs;
use crate::http::write::{stream_body, upload_error};
use crate::http::{now_millis, ApiError};
use crate::upload::Upload;

/// A refused multipart step as S3's error.
pub(super) fn problem(problem: MultipartProblem) -> S3Error {
    errors::command(CommandError::Multipart(problem))
}

/// The upload id a request names; one dfs never made is `NoSuchUpload`.
pub(super) fn upload_id(raw: &str) -> S3Result<UploadId> {
    UploadId::parse(raw).ok_or_else(|| problem(MultipartProblem::NoSuchUpload))
}

/// A part number from the request (S3 answers `InvalidArgument` outside 1 to 10,000).
fn part_number(raw: i32) -> S3Result<u32> {
    let number = u32::try_from(raw).unwrap_or(0);
    rules::check_part_number(number)
        .map_err(|e| error(S3ErrorCode::InvalidArgument, e.to_string()))?;
    Ok(number)
}

/// The upload `id` at `path`, as this node's replica holds it (after [`Dfs::linearize`]).
pub(super) async fn find_upload(dfs: &Dfs, path: &Path, id: UploadId) -> S3Result<MultipartUpload> {
    let at = path.clone();
    let found = dfs
        .api
        .driver
        .query(move |node| node.status().namespace.multipart_upload(&at, id).cloned())
        .await
        .map_err(errors::stopped)?;
    found.ok_or_else(|| problem(MultipartProblem::NoSuchUpload))
}

/// CreateMultipartUpload: one raft entry records the upload and the object's headers.
pub async fn create(
    dfs: &Dfs,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    let (_, path) = dfs.object(&caller, &input.bucket, &input.key, Need::Write).await?;
    let headers = UploadHeaders {
        content_type: input.content_type.clone(),
        content_disposition: input.content_disposition.clone(),
        user: user_meta(input.metadata.as_ref()),
    };
    if let Err(problem) = headers.check() {
        let code = match problem {
            s3_rules::MetaProblem::TooLarge => S3ErrorCode::MetadataTooLarge,
            _ => S3ErrorCode::InvalidArgument,
        };
        return Err(error(code, problem.to_string()));
    }
    let command = Command::CreateMultipartUpload {
        path,
        initiator: caller.user.clone(),
        created_at: now_millis(),
        headers,
    };
    let reply = crate::http::submit(&dfs.api, command).await.map_err(errors::api)?;
    let dfs_core::Reply::Applied { change, index } = reply;
    let Change::MultipartCreated { upload, .. } = change else {
        return Err(error(S3ErrorCode::InternalError, "the create applied as something else"));
    };
    tracing::info!(index = %index, upload = %upload, key = %input.key, "s3 multipart upload created");
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(upload.to_string()),
        ..Default::default()
    }))
}

/// The part's seal once its body is in: its hashes and where it goes.
fn seal(upload: UploadId, number: u32, size_bytes: u64, hash: Hash, md5: [u8; 16]) -> PartSeal {
    PartSeal { upload, number, size_bytes, hash, md5, uploaded_at: now_millis() }
}

/// Commits a part's upload, answering its ETag.
async fn commit_part(upload: Upload, part: PartSeal) -> S3Result<String> {
    let etag = s3_rules::hex(&part.md5);
    let (number, size_bytes) = (part.number, part.size_bytes);
    let written = upload.seal_part(part).await.map_err(|e| errors::api(upload_error(e)))?;
    tracing::info!(index = %written.index, number, size_bytes, etag = %etag, "s3 part stored");
    Ok(etag)
}

fn part_start(path: Path, caller: &Caller) -> UploadStart {
    UploadStart {
        path,
        precondition: Precondition::None,
        idempotency_key: None,
        author: caller.user.clone(),
    }
}

/// UploadPart: the body streamed into chunks stored at the write quorum, then one `PutPart`.
pub async fn upload_part(
    dfs: &Dfs,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    let (_, path) = dfs.object(&caller, &input.bucket, &input.key, Need::Write).await?;
    let id = upload_id(&input.upload_id)?;
    let number = part_number(input.part_number)?;
    let length = input.content_length.and_then(|n| u64::try_from(n).ok());
    if length.is_some_and(|n| n > rules::PART_BYTES_MAX) {
        return Err(error(S3ErrorCode::EntityTooLarge, "a part is at most 5 GiB"));
    }
    // Refused before any byte is stored when the upload is unknown (core checks again).
    dfs.linearize().await?;
    find_upload(dfs, &path, id).await?;
    let mut md5 = Md5::new();
    let body = input.body.unwrap_or_else(|| {
        StreamingBlob::wrap(futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>())
    });
    let body_error = |e: s3s::StdError| {
        ApiError::new(axum::http::StatusCode::BAD_REQUEST, "body_error", e.to_string())
    };
    let start = part_start(path, &caller);
    let streamed = stream_body(&dfs.api, start, body, body_error, |frame| md5.update(frame))
        .await
        .map_err(errors::api)?;
    let part = seal(id, number, streamed.size_bytes, streamed.hash, md5.finalize());
    let etag = commit_part(streamed.upload, part).await?;
    Ok(S3Response::new(UploadPartOutput { e_tag: Some(ETag::Strong(etag)), ..Default::default() }))
}

/// The source object of an UploadPartCopy, which `caller` must be able to read.
async fn copy_source(dfs: &Dfs, caller: &Caller, source: &CopySource) -> S3Result<Found> {
    let (bucket, key) = match source {
        CopySource::Bucket { bucket, key, version_id: None } => (bucket, key),
        CopySource::Bucket { .. } => {
            return Err(errors::not_implemented("UploadPartCopy from a versionId"))
        }
        _ => return Err(errors::not_implemented("UploadPartCopy from an access point")),
    };
    let (_, path) = dfs.object(caller, bucket, key, Need::Read).await?;
    find(dfs, &path, key).await
}

/// The MD5 of a whole source object when its ETag is one (written by PutObject).
fn known_md5(found: &Found) -> Option<[u8; 16]> {
    let etag = found.meta.as_ref()?.etag.as_str();
    if etag.len() != 32 || etag.contains('-') {
        return None;
    }
    let mut md5 = [0u8; 16];
    for (at, byte) in md5.iter_mut().enumerate() {
        *byte = u8::from_str_radix(etag.get(at * 2..at * 2 + 2)?, 16).ok()?;
    }
    Some(md5)
}

/// MD5 (and blake3) of `content` bytes `first..=last`, read hash-checked chunk by chunk.
async fn digest(
    dfs: &Dfs,
    content: &Content,
    replicas: Vec<Vec<NodeId>>,
    first: u64,
    last: u64,
) -> S3Result<([u8; 16], Hash)> {
    let mut stream =
        std::pin::pin!(crate::http::read::content_bytes(&dfs.api, content, replicas, first, last));
    let (mut md5, mut blake) = (Md5::new(), blake3::Hasher::new());
    while let Some(bytes) = stream.next().await {
        let bytes = bytes.map_err(|e| error(S3ErrorCode::ServiceUnavailable, e.to_string()))?;
        md5.update(&bytes);
        blake.update(&bytes);
    }
    Ok((md5.finalize(), Hash(*blake.finalize().as_bytes())))
}

/// UploadPartCopy: a whole source object becomes the part by reference (no byte copied; its
/// MD5 is read once when its ETag is not one); a range is read and stored as new chunks.
pub async fn upload_part_copy(
    dfs: &Dfs,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    let id = upload_id(&input.upload_id)?;
    let number = part_number(input.part_number)?;
    dfs.linearize().await?;
    let found = copy_source(dfs, &caller, &input.copy_source).await?;
    let (_, path) = dfs.object(&caller, &input.bucket, &input.key, Need::Write).await?;
    find_upload(dfs, &path, id).await?;
    if let Some(ETagCondition::ETag(tag)) = &input.copy_source_if_match {
        if tag.value() != found.etag() {
            let message = "x-amz-copy-source-if-match does not hold";
            return Err(error(S3ErrorCode::PreconditionFailed, message));
        }
    }
    let content = found.record.content.clone();
    let size = content.size_bytes;
    let range = match &input.copy_source_range {
        None => None,
        Some(raw) => {
            let bad =
                || error(S3ErrorCode::InvalidRange, "x-amz-copy-source-range not satisfiable");
            let parsed = Range::parse(raw).map_err(|_| bad())?;
            let within = parsed.check(size).map_err(|_| bad())?;
            Some((within.start, within.end.saturating_sub(1)))
        }
    };
    let replicas = found.replicas.clone();
    let start = part_start(path, &caller);
    let etag = match range {
        Some((first, last)) if (first, last) != (0, size.saturating_sub(1)) => {
            let mut md5 = Md5::new();
            let bytes = crate::http::read::content_bytes(&dfs.api, &content, replicas, first, last);
            let body_error = |e: std::io::Error| {
                ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    e.to_string(),
                )
            };
            let streamed = stream_body(&dfs.api, start, Box::pin(bytes), body_error, |frame| {
                md5.update(frame)
            })
            .await
            .map_err(errors::api)?;
            let part = seal(id, number, streamed.size_bytes, streamed.hash, md5.finalize());
            commit_part(streamed.upload, part).await?
        }
        _ => {
            let md5 = match known_md5(&found) {
                Some(md5) => md5,
                None => digest(dfs, &content, replicas, 0, size.saturating_sub(1)).await?.0,
            };
            let mut upload = Upload::open(&dfs.api.driver, start).await.map_err(errors::stopped)?;
            for chunk in &content.chunks {
                upload.reuse(*chunk).await.map_err(|e| errors::api(upload_error(e)))?;
            }
            commit_part(upload, seal(id, number, size, content.hash, md5)).await?
        }
    };
    let result = CopyPartResult {
        e_tag: Some(ETag::Strong(etag)),
        last_modified: Some(timestamp(now_millis())),
        ..Default::default()
    };
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(result),
        ..Default::default()
    }))
}

/// The parts a Complete names, as core's rules take them.
fn named_parts(input: &CompleteMultipartUploadInput) -> S3Result<Vec<CompletedPart>> {
    let listed = input.multipart_upload.as_ref().and_then(|m| m.parts.as_ref());
    let mut parts = Vec::new();
    for part in listed.into_iter().flatten() {
        let (Some(number), Some(etag)) = (part.part_number, part.e_tag.as_ref()) else {
            return Err(error(S3ErrorCode::MalformedXML, "every part needs a number and an ETag"));
        };
        let number = u32::try_from(number).unwrap_or(0);
        parts.push(CompletedPart { number, etag: etag.value().to_owned() });
    }
    Ok(parts)
}

/// The object's content from `plan`: its chunks and size, and its whole blake3 from one
/// hash-checked read of the parts (a single part's recorded hash is the object's).
async fn whole_content(
    dfs: &Dfs,
    upload: &MultipartUpload,
    named: &[CompletedPart],
    plan: &CompletePlan,
) -> S3Result<Content> {
    let mut content =
        Content { chunks: plan.chunks.clone(), size_bytes: plan.size_bytes, hash: Hash([0; 32]) };
    if let [only] = named {
        if let Some(part) = upload.parts.get(&only.number) {
            content.hash = part.content.hash;
            return Ok(content);
        }
    }
    let wanted: Vec<ChunkId> = content.chunks.iter().map(|c| c.id).collect();
    let replicas = dfs
        .api
        .driver
        .query(move |node| {
            let namespace = node.status().namespace;
            let nodes = |id: &ChunkId| {
                namespace.replicas(id).map(|s| s.iter().copied().collect()).unwrap_or_default()
            };
            wanted.iter().map(nodes).collect::<Vec<Vec<NodeId>>>()
        })
        .await
        .map_err(errors::stopped)?;
    if content.size_bytes > 0 {
        let last = content.size_bytes - 1;
        content.hash = digest(dfs, &content, replicas, 0, last).await?.1;
    } else {
        content.hash = Hash::of(b"");
    }
    Ok(content)
}

/// CompleteMultipartUpload: checks the part list, reads the parts once for the object's
/// blake3, then one raft entry makes the version from the parts' chunks.
pub async fn complete(
    dfs: &Dfs,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    let (_, path) = dfs.object(&caller, &input.bucket, &input.key, Need::Write).await?;
    let id = upload_id(&input.upload_id)?;
    let named = named_parts(&input)?;
    dfs.linearize().await?;
    let upload = match find_upload(dfs, &path, id).await {
        Ok(upload) => upload,
        Err(missing) => {
            // A retry of a Complete that applied (its reply lost) gets the first answer.
            let at = path.clone();
            let first = dfs
                .api
                .driver
                .query(move |node| node.status().namespace.completed_upload(&at, id).cloned())
                .await
                .map_err(errors::stopped)?;
            return match first {
                Some(first) if first.parts == rules::parts_digest(&named) => {
                    Ok(completed(&input, first.etag, &first.change))
                }
                _ => Err(missing),
            };
        }
    };
    let plan = rules::plan_complete(&upload, &named).map_err(problem)?;
    let finish = Finish { dfs: dfs.clone(), path, id, upload, named, plan, caller };
    if finish.plan.size_bytes < KEEP_ALIVE_AFTER_BYTES || finish.named.len() == 1 {
        let (etag, change) = finish.run().await?;
        return Ok(completed(&input, etag, &change));
    }
    // A long read of the parts: s3s answers 200 at once and sends whitespace until the XML
    // (or the error XML) is ready, so clients do not time out. No version id header then: the
    // headers go before the version exists.
    let future = async move {
        let (etag, change) = finish.run().await?;
        Ok(completed(&input, etag, &change).output)
    };
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        future: Some(Box::pin(future)),
        ..Default::default()
    }))
}

/// Objects at least this large complete with a keep-alive answer (their parts are read for
/// the whole-object hash first).
const KEEP_ALIVE_AFTER_BYTES: u64 = 16 * 1024 * 1024;

/// What is left of a Complete once the part list checked out.
struct Finish {
    dfs: Dfs,
    path: Path,
    id: UploadId,
    upload: MultipartUpload,
    named: Vec<CompletedPart>,
    plan: CompletePlan,
    caller: Caller,
}

impl Finish {
    /// Reads the parts for the object's blake3 and commits the version: its ETag and change.
    async fn run(self) -> S3Result<(String, Change)> {
        let Finish { dfs, path, id, upload, named, plan, caller } = self;
        let content = whole_content(&dfs, &upload, &named, &plan).await?;
        let etag = s3_rules::multipart_etag(&plan.md5s, Md5::checksum);
        let command = Command::CompleteMultipartUpload {
            path,
            upload: id,
            parts: named,
            content,
            etag: etag.clone(),
            author: caller.user.clone(),
            created_at: now_millis(),
        };
        let reply = crate::http::submit(&dfs.api, command).await.map_err(errors::api)?;
        let dfs_core::Reply::Applied { change, index } = reply;
        tracing::info!(index = %index, upload = %id, etag = %etag, "s3 multipart upload completed");
        Ok((etag, change))
    }
}

/// The answer to a Complete that made `change`.
fn completed(
    input: &CompleteMultipartUploadInput,
    etag: String,
    change: &Change,
) -> S3Response<CompleteMultipartUploadOutput> {
    S3Response::new(CompleteMultipartUploadOutput {
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        e_tag: Some(ETag::Strong(etag)),
        location: Some(format!("/{}/{}", input.bucket, input.key)),
        version_id: super::objects::written_version(change),
        ..Default::default()
    })
}

/// AbortMultipartUpload: one raft entry forgets the upload; its chunks become garbage.
pub async fn abort(
    dfs: &Dfs,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let caller = dfs.caller(&req).await?;
    let input = req.input;
    let (_, path) = dfs.object(&caller, &input.bucket, &input.key, Need::Write).await?;
    let id = upload_id(&input.upload_id)?;
    let command = Command::AbortMultipartUpload { path, upload: id };
    crate::http::submit(&dfs.api, command).await.map_err(errors::api)?;
    tracing::info!(upload = %id, key = %input.key, "s3 multipart upload aborted");
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}
