//! S3 version ids and one page of ListObjectVersions (issue 18 point 5).
//!
//! **Version ids.** An object version is a dfs version: its id is the version number `dfs
//! history` shows (`"3"`). A delete marker is the tombstone of a deleted file; a tombstone has
//! no version number (the next write continues the file's numbering), so its id is the log
//! index of the delete, `"dm-<index>"`: unique in the cluster, the same on every replica, never
//! confused with a number. `"null"` is the id S3 gives objects written while versioning was
//! off; every dfs bucket is versioned, so it names nothing.
//!
//! **Listing.** Keys in byte order, each key's versions newest first (its delete marker, when
//! it has one, is the newest). Filtered by prefix, grouped at the first delimiter after the
//! prefix into common prefixes, cut at `max-keys` items (versions, markers and prefixes count
//! alike). A page resumes after `key-marker`: with no `version-id-marker`, after every version
//! of that key; with one, after that version of that key (older versions of the key follow).
//! Resuming compares ranks, not positions, so a version removed between two pages neither
//! repeats nor hides the versions around it. Pure, like [`super::list`]: the caller feeds the
//! versions in order from a range scan starting at [`VersionsRequest::start`].

use std::fmt;

use crate::ids::{LogIndex, Version};
use crate::s3::list::MAX_KEYS;

/// What an S3 version id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionId {
    /// A kept dfs version of the file.
    Version(Version),
    /// The file's delete marker: its tombstone, by the log index of the delete.
    DeleteMarker(LogIndex),
    /// `null`: never the id of anything in dfs.
    Null,
}

/// The prefix of a delete marker's id.
const MARKER_PREFIX: &str = "dm-";

impl VersionId {
    /// Parses an id as [`VersionId`]'s `Display` writes it (and only that way: `"07"` is not
    /// `"7"`, so one version has one id). `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw == "null" {
            return Some(Self::Null);
        }
        let (number, marker) = match raw.strip_prefix(MARKER_PREFIX) {
            Some(rest) => (rest, true),
            None => (raw, false),
        };
        let canonical = !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
            && (number == "0" || !number.starts_with('0'));
        let value: u64 = number.parse().ok().filter(|_| canonical)?;
        match (marker, value) {
            (_, 0) => None,
            (true, index) => Some(Self::DeleteMarker(LogIndex(index))),
            (false, version) => Some(Self::Version(Version(version))),
        }
    }

    /// Where the id sorts among one key's versions: higher is newer. A delete marker is always
    /// the newest (only the current tombstone is kept); `null` sorts after every version.
    pub fn rank(self) -> u64 {
        match self {
            Self::DeleteMarker(_) => u64::MAX,
            Self::Version(version) => version.0,
            Self::Null => 0,
        }
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Version(version) => write!(f, "{}", version.0),
            Self::DeleteMarker(index) => write!(f, "{MARKER_PREFIX}{}", index.0),
            Self::Null => f.write_str("null"),
        }
    }
}

/// What one ListObjectVersions call asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionsRequest<'a> {
    /// Only keys starting with this.
    pub prefix: &'a str,
    /// Group keys at the first occurrence of this after the prefix (usually `/`).
    pub delimiter: Option<&'a str>,
    /// Resume at this key (`key-marker`).
    pub key_marker: Option<&'a str>,
    /// Resume after this version of `key_marker` (`version-id-marker`); without it, after the
    /// whole key.
    pub version_marker: Option<VersionId>,
    /// Most items (versions, delete markers and common prefixes); capped at [`MAX_KEYS`].
    pub max_keys: usize,
}

/// One item of a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionItem<T> {
    /// A version or a delete marker of a key.
    Version {
        /// The key.
        key: String,
        /// Its id.
        id: VersionId,
        /// The caller's value (size, ETag, whether it is the latest...).
        value: T,
    },
    /// Keys grouped under a common prefix (ending with the delimiter).
    Prefix(String),
}

/// One page of versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionsPage<T> {
    /// Versions and common prefixes in listing order.
    pub items: Vec<VersionItem<T>>,
    /// Whether more items follow.
    pub truncated: bool,
    /// When truncated: the `key-marker` of the next page (the last item's key or prefix).
    pub next_key: Option<String>,
    /// When truncated after a version: the `version-id-marker` of the next page.
    pub next_version: Option<VersionId>,
}

impl<'a> VersionsRequest<'a> {
    /// The smallest key the page can hold: a range scan may start here.
    pub fn start(&self) -> &'a str {
        match self.key_marker {
            Some(marker) if marker > self.prefix => marker,
            _ => self.prefix,
        }
    }

    /// Whether the version `id` of `key` comes at or before the page's marker.
    fn before_marker(&self, key: &str, id: VersionId) -> bool {
        match self.key_marker {
            None => false,
            Some(marker) if key < marker => true,
            Some(marker) if key > marker => false,
            Some(_) => self.version_marker.is_none_or(|after| id.rank() >= after.rank()),
        }
    }
}

/// Cuts one page out of `versions`: `(key, id, value)` in key order, each key's versions newest
/// first, starting at or before [`VersionsRequest::start`].
pub fn page<T>(
    versions: impl IntoIterator<Item = (String, VersionId, T)>,
    request: &VersionsRequest<'_>,
) -> VersionsPage<T> {
    let max = request.max_keys.min(MAX_KEYS);
    let delimiter = request.delimiter.filter(|d| !d.is_empty());
    let mut items: Vec<VersionItem<T>> = Vec::new();
    let mut truncated = false;
    for (key, id, value) in versions {
        let Some(rest) = key.strip_prefix(request.prefix) else {
            if key.as_str() > request.prefix {
                break; // Past every key with the prefix.
            }
            continue;
        };
        if request.before_marker(&key, id) {
            continue;
        }
        let item = match delimiter.and_then(|d| rest.find(d).map(|at| at + d.len())) {
            Some(end) => {
                let common = &key[..request.prefix.len() + end];
                let seen =
                    matches!(items.last(), Some(VersionItem::Prefix(last)) if last == common);
                if seen || request.key_marker.is_some_and(|marker| common <= marker) {
                    continue;
                }
                VersionItem::Prefix(common.to_owned())
            }
            None => VersionItem::Version { key, id, value },
        };
        if items.len() == max {
            truncated = true;
            break;
        }
        items.push(item);
    }
    let (next_key, next_version) = match (truncated, items.last()) {
        (false, _) => (None, None),
        (true, Some(VersionItem::Version { key, id, .. })) => (Some(key.clone()), Some(*id)),
        (true, Some(VersionItem::Prefix(prefix))) => (Some(prefix.clone()), None),
        (true, None) => (Some(String::new()), None),
    };
    VersionsPage { items, truncated, next_key, next_version }
}

#[cfg(test)]
mod tests;
