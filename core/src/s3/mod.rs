//! The pure rules of the S3 API (issue 18): bucket names and the key ↔ path mapping
//! ([`names`]), list paging with delimiter grouping ([`list`]), access keys and the sealing of
//! their secrets ([`keys`]), version ids and ListObjectVersions paging ([`versions`]), and the
//! object metadata kept with a version ([`ObjectMeta`]).
//! The runtime's S3 listener only moves bytes; every decision about what a name or a page is
//! lives here. Multipart uploads ([`multipart`]): part lists, layout, expiry, paging.

pub mod keys;
pub mod list;
pub mod multipart;
pub mod names;
pub mod versions;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::Hash;

/// Most bytes of user metadata (`x-amz-meta-*` names and values together), as S3 allows.
pub const USER_META_BYTES_MAX: usize = 2048;

/// Longest `Content-Type` or `Content-Disposition` kept.
pub const HEADER_BYTES_MAX: usize = 1024;

/// What S3 keeps with an object beyond its bytes: the ETag, the content headers and the user
/// metadata. Recorded with the version it describes (raft-replicated namespace state).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ObjectMeta {
    /// The ETag without quotes: hex MD5 of the content (single part) or `md5-of-md5s-N`.
    pub etag: String,
    /// `Content-Type`, when the client gave one.
    pub content_type: Option<String>,
    /// `Content-Disposition`, when the client gave one.
    pub content_disposition: Option<String>,
    /// `x-amz-meta-*` (names lowercased, without the prefix).
    pub user: BTreeMap<String, String>,
    /// blake3 of the content it describes: metadata whose hash differs from the version's is
    /// ignored, so it can never describe other bytes.
    pub hash: Hash,
}

/// Why [`ObjectMeta::check`] refused metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum MetaProblem {
    /// The user metadata is larger than [`USER_META_BYTES_MAX`].
    #[error("user metadata is larger than {USER_META_BYTES_MAX} bytes")]
    TooLarge,
    /// A content header is longer than [`HEADER_BYTES_MAX`].
    #[error("a content header is longer than {HEADER_BYTES_MAX} bytes")]
    HeaderTooLong,
    /// The ETag is not hex digits with an optional `-N` part count.
    #[error("the ETag is not an MD5 in hex (with an optional -N)")]
    BadEtag,
}

impl ObjectMeta {
    /// Checks the limits every replica enforces before recording it.
    pub fn check(&self) -> Result<(), MetaProblem> {
        let user_bytes: usize = self.user.iter().map(|(k, v)| k.len() + v.len()).sum();
        if user_bytes > USER_META_BYTES_MAX {
            return Err(MetaProblem::TooLarge);
        }
        let long = |h: &Option<String>| h.as_ref().is_some_and(|h| h.len() > HEADER_BYTES_MAX);
        if long(&self.content_type) || long(&self.content_disposition) {
            return Err(MetaProblem::HeaderTooLong);
        }
        if !is_valid_etag(&self.etag) {
            return Err(MetaProblem::BadEtag);
        }
        Ok(())
    }
}

/// Whether `etag` is 32 hex digits, optionally followed by `-N` (N from 1 to 10,000).
pub fn is_valid_etag(etag: &str) -> bool {
    let (md5, parts) = match etag.split_once('-') {
        Some((md5, n)) => (md5, Some(n)),
        None => (etag, None),
    };
    let hex = md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit());
    let parts_ok = parts.is_none_or(|n| n.parse::<u32>().is_ok_and(|n| (1..=10_000).contains(&n)));
    hex && parts_ok
}

/// The ETag of a multipart object: hex MD5 of the parts' binary MD5s in order, `-` and the
/// number of parts (what S3 and every client that checks it compute).
pub fn multipart_etag(part_md5s: &[[u8; 16]], md5: impl Fn(&[u8]) -> [u8; 16]) -> String {
    let joined: Vec<u8> = part_md5s.iter().flatten().copied().collect();
    let digest = md5(&joined);
    format!("{}-{}", hex(&digest), part_md5s.len())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_md5_hex_with_an_optional_part_count() {
        assert!(is_valid_etag("d41d8cd98f00b204e9800998ecf8427e"));
        assert!(is_valid_etag("d41d8cd98f00b204e9800998ecf8427e-3"));
        assert!(!is_valid_etag("d41d8cd98f00b204e9800998ecf8427e-0"));
        assert!(!is_valid_etag("d41d8cd98f00b204e9800998ecf8427"));
        assert!(!is_valid_etag("\"d41d8cd98f00b204e9800998ecf8427e\""));
        assert!(!is_valid_etag("zz1d8cd98f00b204e9800998ecf8427e"));
    }

    #[test]
    fn metadata_limits_hold() {
        let mut meta = ObjectMeta {
            etag: "0".repeat(32),
            content_type: None,
            content_disposition: None,
            user: BTreeMap::new(),
            hash: Hash([0; 32]),
        };
        assert_eq!(meta.check(), Ok(()));
        meta.user.insert("k".into(), "v".repeat(USER_META_BYTES_MAX));
        assert_eq!(meta.check(), Err(MetaProblem::TooLarge));
        meta.user.clear();
        meta.content_type = Some("x".repeat(HEADER_BYTES_MAX + 1));
        assert_eq!(meta.check(), Err(MetaProblem::HeaderTooLong));
    }

    #[test]
    fn the_multipart_etag_joins_the_part_digests() {
        // A stand-in digest (the runtime passes MD5): the first 16 bytes of blake3.
        let digest = |bytes: &[u8]| {
            let mut out = [0u8; 16];
            out.copy_from_slice(&blake3::hash(bytes).as_bytes()[..16]);
            out
        };
        let parts = [[1u8; 16], [2u8; 16]];
        let mut joined = vec![1u8; 16];
        joined.extend([2u8; 16]);
        assert_eq!(multipart_etag(&parts, digest), format!("{}-2", hex(&digest(&joined))));
    }
}
