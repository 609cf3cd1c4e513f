//! The rules of S3 multipart uploads (issue 18 point 4): what an upload in progress is, which
//! part numbers and part lists are valid, how Complete turns the recorded parts into one
//! version (the parts' chunks, in part order: no byte is copied), the multipart ETag, when an
//! abandoned upload expires, and the paging of ListMultipartUploads and ListParts. Pure: the
//! namespace keeps the uploads (`meta::s3`), the runtime moves the bytes.
//!
//! Choices, following S3:
//! - Part numbers run from 1 to [`PART_NUMBER_MAX`]; uploading a number again replaces the part.
//! - Complete names the parts in strictly increasing order (`InvalidPartOrder`), each with the
//!   ETag its UploadPart answered (`InvalidPart` when a part is missing or its ETag differs,
//!   checked for every part first); every part but the last is at least [`PART_BYTES_MIN`]
//!   (`EntityTooSmall`). Parts not named
//!   are dropped with the upload (their chunks become garbage).
//! - The last [`COMPLETED_REMEMBERED_MAX`] completions are remembered: a Complete repeated with
//!   the same part list answers what the first one did.
//! - An upload is removed by Complete or Abort, or, when nobody did either for `multipart_expire`
//!   after it was created, by an abort the leader proposes ([`expired`]).
//! - The whole-object blake3 (`Content::hash`) is computed by the node that runs Complete, in one
//!   streaming read of the parts (every chunk hash-checked on the way): dfs publishes that hash
//!   (`x-dfs-blake3`, listings, `dfs mirror` compares it with local files), so it must be the hash
//!   of the bytes. Reads verify every chunk against its blake3 address. Core checks that the
//!   content a Complete proposes is exactly the recorded parts' chunks ([`plan_complete`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{hex, HEADER_BYTES_MAX, USER_META_BYTES_MAX};
use crate::command::{ChunkRef, Content};
use crate::ids::{LogIndex, UnixMillis, UserName};

/// Highest part number.
pub const PART_NUMBER_MAX: u32 = 10_000;

/// Smallest part, except the last one (5 MiB, as S3).
pub const PART_BYTES_MIN: u64 = 5 * 1024 * 1024;

/// Largest part (5 GiB, as S3).
pub const PART_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;

/// Most uploads (or parts) in one list page, as S3 caps `max-uploads` and `max-parts`.
pub const PAGE_MAX: usize = 1000;

/// Most uploads in progress in the whole cluster: the replicated state stays bounded.
pub const UPLOADS_MAX: usize = 100_000;

/// Completed uploads remembered, so a Complete retried after a lost reply (on another node,
/// say) gets the first answer instead of `NoSuchUpload`; the oldest are forgotten first.
pub const COMPLETED_REMEMBERED_MAX: usize = 10_000;

/// How long an upload nobody completes or aborts is kept by default (7 days).
pub const EXPIRE_DEFAULT: Duration = Duration::from_secs(7 * 24 * 3600);

/// An upload's id: the log index of the `CreateMultipartUpload` that made it, shown as
/// `m` and 16 hex digits. Unique in the cluster forever (log indexes never repeat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct UploadId(pub LogIndex);

impl UploadId {
    /// Parses the form [`std::fmt::Display`] writes; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        let digits = raw.strip_prefix('m').filter(|d| d.len() == 16)?;
        if !digits.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        u64::from_str_radix(digits, 16).ok().map(|n| Self(LogIndex(n)))
    }
}

impl std::fmt::Display for UploadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "m{:016x}", self.0 .0)
    }
}

/// The object headers given at CreateMultipartUpload, recorded with the completed version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct UploadHeaders {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `x-amz-meta-*` (names lowercased, without the prefix).
    pub user: BTreeMap<String, String>,
}

impl UploadHeaders {
    /// The limits of [`super::ObjectMeta::check`].
    pub fn check(&self) -> Result<(), super::MetaProblem> {
        let user_bytes: usize = self.user.iter().map(|(k, v)| k.len() + v.len()).sum();
        if user_bytes > USER_META_BYTES_MAX {
            return Err(super::MetaProblem::TooLarge);
        }
        let long = |h: &Option<String>| h.as_ref().is_some_and(|h| h.len() > HEADER_BYTES_MAX);
        if long(&self.content_type) || long(&self.content_disposition) {
            return Err(super::MetaProblem::HeaderTooLong);
        }
        Ok(())
    }
}

/// One stored part: its chunks (durable at the write quorum when it was recorded), size and
/// blake3 in `content`, and the MD5 its ETag is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PartRecord {
    /// Chunks, size and blake3 of the part's bytes.
    pub content: Content,
    /// MD5 of the part's bytes.
    pub md5: [u8; 16],
    /// When the receiving node accepted it.
    pub uploaded_at: UnixMillis,
}

impl PartRecord {
    /// The part's ETag (without quotes): hex MD5.
    pub fn etag(&self) -> String {
        hex(&self.md5)
    }
}

/// An upload in progress, as the namespace keeps it (keyed by object path and [`UploadId`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultipartUpload {
    /// Who created it.
    pub initiator: UserName,
    /// When the receiving node accepted the create (wall clock; expiry counts from here).
    pub created_at: UnixMillis,
    /// Headers for the completed object.
    pub headers: UploadHeaders,
    /// Parts stored so far, by number.
    pub parts: BTreeMap<u32, PartRecord>,
}

/// What a completed upload is remembered as (see [`COMPLETED_REMEMBERED_MAX`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completed {
    /// The log index of the Complete.
    pub index: LogIndex,
    /// [`parts_digest`] of the parts it named: a retry must name the same.
    pub parts: crate::ids::Hash,
    /// The object's ETag.
    pub etag: String,
    /// What it changed (the version it made).
    pub change: crate::command::Change,
}

/// A part as CompleteMultipartUpload names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct CompletedPart {
    /// The part number.
    pub number: u32,
    /// The ETag the client got for it (quotes are ignored).
    pub etag: String,
}

/// Why a multipart operation was refused; each maps to S3's error code of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum MultipartProblem {
    /// No such upload at this key (never created, completed, aborted or expired).
    #[error("no such upload (it was completed, aborted or expired, or never created)")]
    NoSuchUpload,
    /// A part number outside 1 to 10,000.
    #[error("part numbers run from 1 to {PART_NUMBER_MAX}")]
    InvalidPartNumber,
    /// A part named by Complete is missing or its ETag differs.
    #[error("part {number} was not uploaded or its ETag differs")]
    InvalidPart {
        /// The part number.
        number: u32,
    },
    /// Complete named the parts out of order (or twice).
    #[error("the parts must be listed in strictly increasing part number order")]
    InvalidPartOrder,
    /// A part other than the last is smaller than 5 MiB.
    #[error("part {number} is smaller than 5 MiB and is not the last part")]
    EntityTooSmall {
        /// The part number.
        number: u32,
    },
    /// Complete named no part.
    #[error("the part list is empty")]
    NoParts,
    /// The content a Complete proposes is not the named parts' chunks (a part was replaced
    /// while the object's hash was computed): retry.
    #[error("the parts changed while the upload was being completed; retry")]
    PartsChanged,
    /// The cluster holds [`UPLOADS_MAX`] uploads in progress.
    #[error("too many multipart uploads in progress (at most {UPLOADS_MAX})")]
    TooManyUploads,
    /// The part is larger than 5 GiB.
    #[error("a part is at most 5 GiB")]
    PartTooLarge,
}

/// A digest of a Complete's part list (what a remembered completion keeps of it, so memory
/// stays small whatever the number of parts): blake3 over each number and unquoted ETag.
pub fn parts_digest(parts: &[CompletedPart]) -> crate::ids::Hash {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(&part.number.to_le_bytes());
        let etag = part.etag.trim_matches('"');
        hasher.update(&(etag.len() as u64).to_le_bytes());
        hasher.update(etag.as_bytes());
    }
    crate::ids::Hash(*hasher.finalize().as_bytes())
}

/// Checks a part number.
pub fn check_part_number(number: u32) -> Result<(), MultipartProblem> {
    if (1..=PART_NUMBER_MAX).contains(&number) {
        Ok(())
    } else {
        Err(MultipartProblem::InvalidPartNumber)
    }
}

/// What Complete makes of an upload: the object's chunks and size, and the parts' MD5s in
/// order (for [`super::multipart_etag`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletePlan {
    /// Every chunk of the named parts, in part order.
    pub chunks: Vec<ChunkRef>,
    /// The object's size.
    pub size_bytes: u64,
    /// The parts' MD5s, in order.
    pub md5s: Vec<[u8; 16]>,
}

/// Validates the part list of a Complete against the recorded parts (the rules in the module
/// docs) and lays out the object.
pub fn plan_complete(
    upload: &MultipartUpload,
    asked: &[CompletedPart],
) -> Result<CompletePlan, MultipartProblem> {
    if asked.is_empty() {
        return Err(MultipartProblem::NoParts);
    }
    if asked.windows(2).any(|pair| pair[0].number >= pair[1].number) {
        return Err(MultipartProblem::InvalidPartOrder);
    }
    // Every named part must exist with its ETag before sizes are looked at.
    let mut records = Vec::with_capacity(asked.len());
    for part in asked {
        let number = part.number;
        let record = upload
            .parts
            .get(&number)
            .filter(|record| record.etag() == part.etag.trim_matches('"'))
            .ok_or(MultipartProblem::InvalidPart { number })?;
        records.push((number, record));
    }
    let mut plan = CompletePlan { chunks: Vec::new(), size_bytes: 0, md5s: Vec::new() };
    for (at, (number, record)) in records.iter().enumerate() {
        let last = at + 1 == records.len();
        if !last && record.content.size_bytes < PART_BYTES_MIN {
            return Err(MultipartProblem::EntityTooSmall { number: *number });
        }
        plan.chunks.extend(record.content.chunks.iter().copied());
        plan.size_bytes = plan.size_bytes.saturating_add(record.content.size_bytes);
        plan.md5s.push(record.md5);
    }
    Ok(plan)
}

/// Whether a Complete's proposed content is exactly `plan`'s chunks and size.
pub fn content_matches(plan: &CompletePlan, content: &Content) -> bool {
    content.chunks == plan.chunks && content.size_bytes == plan.size_bytes
}

/// Whether an upload created at `created_at` has been abandoned for `expire` at `now`.
pub fn expired(created_at: UnixMillis, now: UnixMillis, expire: Duration) -> bool {
    let expire_ms = u64::try_from(expire.as_millis()).unwrap_or(u64::MAX);
    now.0.saturating_sub(created_at.0) >= expire_ms
}

/// What a ListMultipartUploads call asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadsRequest<'a> {
    /// Only keys starting with this.
    pub prefix: &'a str,
    /// Group keys at the first occurrence of this after the prefix.
    pub delimiter: Option<&'a str>,
    /// Resume after this key (`key-marker`).
    pub key_marker: Option<&'a str>,
    /// With `key_marker`: resume after this upload of that key (`upload-id-marker`).
    pub upload_id_marker: Option<UploadId>,
    /// Most items (uploads and common prefixes together); capped at [`PAGE_MAX`].
    pub max_uploads: usize,
}

/// One item of an uploads page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadItem<T> {
    /// An upload.
    Upload {
        /// Its key.
        key: String,
        /// Its id.
        id: UploadId,
        /// The caller's value.
        value: T,
    },
    /// Keys grouped under a common prefix.
    Prefix(String),
}

/// One page of uploads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadsPage<T> {
    /// Uploads (by key, then id) and common prefixes.
    pub items: Vec<UploadItem<T>>,
    /// Whether more follow.
    pub truncated: bool,
    /// Where the next page resumes, when truncated: `(key-marker, upload-id-marker)`.
    pub next: Option<(String, Option<UploadId>)>,
}

impl UploadsRequest<'_> {
    /// The smallest key the page can hold: a range scan may start here.
    pub fn start(&self) -> &str {
        match self.key_marker {
            Some(marker) if marker > self.prefix => marker,
            _ => self.prefix,
        }
    }

    /// Whether (key, id) lies after the markers.
    fn after_markers(&self, key: &str, id: UploadId) -> bool {
        match (self.key_marker, self.upload_id_marker) {
            (None, _) => true,
            (Some(marker), None) => key > marker,
            (Some(marker), Some(after)) => key > marker || (key == marker && id > after),
        }
    }
}

/// Cuts one page out of `uploads` (in increasing (key, id) order, starting at or before
/// [`UploadsRequest::start`]).
pub fn uploads_page<T>(
    uploads: impl IntoIterator<Item = (String, UploadId, T)>,
    request: &UploadsRequest<'_>,
) -> UploadsPage<T> {
    let max = request.max_uploads.min(PAGE_MAX);
    let delimiter = request.delimiter.filter(|d| !d.is_empty());
    let mut items: Vec<UploadItem<T>> = Vec::new();
    let mut truncated = false;
    for (key, id, value) in uploads {
        let Some(rest) = key.strip_prefix(request.prefix) else {
            if key.as_str() > request.prefix {
                break;
            }
            continue;
        };
        if !request.after_markers(&key, id) {
            continue;
        }
        let item = match delimiter.and_then(|d| rest.find(d).map(|at| at + d.len())) {
            Some(end) => {
                let common = &key[..request.prefix.len() + end];
                let seen = matches!(items.last(), Some(UploadItem::Prefix(last)) if last == common);
                if seen || request.key_marker.is_some_and(|marker| common <= marker) {
                    continue;
                }
                UploadItem::Prefix(common.to_owned())
            }
            None => UploadItem::Upload { key, id, value },
        };
        if items.len() == max {
            truncated = true;
            break;
        }
        items.push(item);
    }
    let next = truncated.then(|| match items.last() {
        Some(UploadItem::Upload { key, id, .. }) => (key.clone(), Some(*id)),
        Some(UploadItem::Prefix(prefix)) => (prefix.clone(), None),
        None => (String::new(), None),
    });
    UploadsPage { items, truncated, next }
}

/// One page of ListParts: the parts numbered above `marker`, at most `max_parts` (capped at
/// [`PAGE_MAX`]), and the marker of the next page when more follow.
pub fn parts_page(
    parts: &BTreeMap<u32, PartRecord>,
    marker: Option<u32>,
    max_parts: usize,
) -> (Vec<(u32, &PartRecord)>, Option<u32>) {
    let max = max_parts.min(PAGE_MAX);
    let after = marker.unwrap_or(0);
    let mut page: Vec<(u32, &PartRecord)> = parts
        .range(after.saturating_add(1)..)
        .take(max.saturating_add(1))
        .map(|(n, p)| (*n, p))
        .collect();
    let next = if page.len() > max {
        page.truncate(max);
        page.last().map(|(n, _)| *n)
    } else {
        None
    };
    (page, next)
}

#[cfg(test)]
#[path = "multipart_tests.rs"]
mod tests;
