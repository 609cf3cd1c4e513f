//! One node's half of fsck: checking its own copies of a list of chunks, and the bounded request
//! format other nodes use to ask for that (`POST /internal/verify`).
//!
//! Rules:
//! - A request names at most [`VERIFY_CHUNKS_MAX`] chunks in a body of at most
//!   [`VERIFY_BODY_BYTES_MAX`]; more is refused whole ([`VerifyInputError::TooManyChunks`]), and
//!   one malformed id refuses the whole request, naming its position.
//! - Copies are checked one after another, so a request holds at most one chunk in memory.
//! - With `rehash`, a copy is read and re-hashed (`intact` / `corrupt`); without, only its file's
//!   existence is checked (`present`). Either way an absent copy is `missing`, and a copy the
//!   disk would not give back is `unreadable`.

use dfs_core::ids::{ChunkId, Hash};
use serde::{Deserialize, Serialize};

use crate::store::chunks::{ChunkStore, StoreError};

/// Most chunks one verify request may name.
pub const VERIFY_CHUNKS_MAX: usize = 4096;

/// Largest verify request body: room for [`VERIFY_CHUNKS_MAX`] ids with plenty to spare, so an
/// over-long list is refused for its length, with a clear message, before its size.
pub const VERIFY_BODY_BYTES_MAX: usize = 1024 * 1024;

/// What one node found for one chunk (or, for `unreachable`, what the checker could not learn).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyState {
    /// Re-hashed: the stored bytes hash to the chunk's id.
    Intact,
    /// Exists; not re-hashed (an existence-only check).
    Present,
    /// Re-hashed: the stored bytes do not hash to the chunk's id.
    Corrupt,
    /// The node holds no file for the chunk.
    Missing,
    /// The node's disk failed to read the copy.
    Unreadable,
    /// The node did not answer, so its copy is unknown.
    Unreachable,
}

impl CopyState {
    /// Whether this copy counts towards the replication factor.
    pub fn is_good(self) -> bool {
        matches!(self, Self::Intact | Self::Present)
    }

    /// Whether this node holds a copy that cannot serve reads.
    pub fn is_bad(self) -> bool {
        matches!(self, Self::Corrupt | Self::Unreadable)
    }

    /// Whether the node holds a file for the chunk, good or bad.
    pub fn is_held(self) -> bool {
        self.is_good() || self.is_bad()
    }
}

/// The body of `POST /internal/verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyRequest {
    /// The chunks to check, as 64 lowercase hex digits each.
    pub chunks: Vec<String>,
    /// Re-hash each copy (`true`) or only check that its file exists.
    #[serde(default = "rehash_default")]
    pub rehash: bool,
}

fn rehash_default() -> bool {
    true
}

/// The answer to `POST /internal/verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyAnswer {
    /// The node that checked.
    pub node: u64,
    /// One state per requested chunk, in request order.
    pub states: Vec<CopyState>,
}

/// Why a verify request was refused; nothing was checked.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyInputError {
    /// The body is not the JSON this endpoint takes.
    #[error(
        "the body must be JSON {{\"chunks\": [\"<64 hex digits>\", ...], \"rehash\": true}}: {0}"
    )]
    Malformed(String),
    /// The list is longer than [`VERIFY_CHUNKS_MAX`].
    #[error("{count} chunks asked for; at most {VERIFY_CHUNKS_MAX} per request")]
    TooManyChunks {
        /// How many the request named.
        count: usize,
    },
    /// An entry is not a chunk id.
    #[error("chunk {index} ({shown:?}) is not a chunk id: a chunk id is 64 hex digits")]
    BadChunkId {
        /// Its position in the list.
        index: usize,
        /// The first characters of what was sent.
        shown: String,
    },
}

/// Parses and checks a verify request body: the chunk ids and whether to re-hash.
pub fn parse_request(body: &[u8]) -> Result<(Vec<ChunkId>, bool), VerifyInputError> {
    let request: VerifyRequest =
        serde_json::from_slice(body).map_err(|e| VerifyInputError::Malformed(e.to_string()))?;
    if request.chunks.len() > VERIFY_CHUNKS_MAX {
        return Err(VerifyInputError::TooManyChunks { count: request.chunks.len() });
    }
    let ids = request
        .chunks
        .iter()
        .enumerate()
        .map(|(index, hex)| {
            parse_chunk_hex(hex).ok_or_else(|| VerifyInputError::BadChunkId {
                index,
                shown: hex.chars().take(80).collect(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((ids, request.rehash))
}

/// A chunk id from its 64 hex digits.
pub fn parse_chunk_hex(hex: &str) -> Option<ChunkId> {
    let hash = blake3::Hash::from_hex(hex).ok()?;
    Some(ChunkId(Hash(*hash.as_bytes())))
}

/// Checks this node's copy of each chunk in turn; one state per chunk, in order.
pub async fn verify_local(store: &ChunkStore, chunks: &[ChunkId], rehash: bool) -> Vec<CopyState> {
    let mut states = Vec::with_capacity(chunks.len());
    for &chunk in chunks {
        states.push(check_one(store, chunk, rehash).await);
    }
    states
}

async fn check_one(store: &ChunkStore, chunk: ChunkId, rehash: bool) -> CopyState {
    if !rehash {
        return if store.contains(chunk).await { CopyState::Present } else { CopyState::Missing };
    }
    match store.verify(chunk).await {
        Ok(true) => CopyState::Intact,
        Ok(false) => {
            tracing::warn!(chunk = %chunk, "fsck found a corrupt copy");
            CopyState::Corrupt
        }
        Err(StoreError::NotFound { .. }) => CopyState::Missing,
        Err(error) => {
            tracing::warn!(chunk = %chunk, %error, "fsck could not read a copy");
            CopyState::Unreadable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex_of(body: &[u8]) -> String {
        blake3::hash(body).to_hex().to_string()
    }

    #[test]
    fn a_well_formed_request_parses_in_order_and_rehash_defaults_to_true() {
        let body = format!(r#"{{"chunks": ["{}", "{}"]}}"#, hex_of(b"a"), hex_of(b"b"));
        let (ids, rehash) = parse_request(body.as_bytes()).expect("valid");
        assert_eq!(ids, vec![ChunkId(Hash::of(b"a")), ChunkId(Hash::of(b"b"))]);
        assert!(rehash);
        let body = format!(r#"{{"chunks": ["{}"], "rehash": false}}"#, hex_of(b"a"));
        assert_eq!(parse_request(body.as_bytes()).map(|(_, r)| r), Ok(false));
    }

    #[test]
    fn too_many_chunks_are_refused_whole() {
        let hex = hex_of(b"x");
        let chunks = vec![hex; VERIFY_CHUNKS_MAX + 1];
        let body = serde_json::to_vec(&VerifyRequest { chunks, rehash: true }).expect("json");
        assert!(body.len() <= VERIFY_BODY_BYTES_MAX, "the limit on entries is met first");
        assert_eq!(
            parse_request(&body),
            Err(VerifyInputError::TooManyChunks { count: VERIFY_CHUNKS_MAX + 1 })
        );
        let chunks = vec![hex_of(b"x"); VERIFY_CHUNKS_MAX];
        let body = serde_json::to_vec(&VerifyRequest { chunks, rehash: true }).expect("json");
        assert_eq!(parse_request(&body).map(|(ids, _)| ids.len()), Ok(VERIFY_CHUNKS_MAX));
    }

    #[test]
    fn a_malformed_id_names_its_position() {
        for bad in ["", "zz", "ABC", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65)] {
            let body = format!(r#"{{"chunks": ["{}", "{bad}"]}}"#, hex_of(b"ok"));
            match parse_request(body.as_bytes()) {
                Err(VerifyInputError::BadChunkId { index: 1, .. }) => {}
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn a_body_that_is_not_the_request_is_malformed() {
        for body in [&b""[..], b"[]", b"{\"chunks\": 3}", b"\xff\xfe", b"{\"chunks\": [1]}"] {
            assert!(matches!(parse_request(body), Err(VerifyInputError::Malformed(_))), "{body:?}");
        }
    }

    #[tokio::test]
    async fn local_copies_are_intact_corrupt_missing_or_present() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = ChunkStore::open(dir.path()).await.expect("open");
        let (good, bad, absent) = (b"good".as_slice(), b"bad".as_slice(), b"absent".as_slice());
        let ids = [good, bad, absent].map(|b| ChunkId(Hash::of(b)));
        for (id, bytes) in ids.iter().zip([good, bad]) {
            store.put(*id, bytes::Bytes::copy_from_slice(bytes)).await.expect("put");
        }
        let path = crate::store::chunks::chunk_path(dir.path(), ids[1]);
        std::fs::write(&path, b"bad!").expect("corrupt the copy");
        let states = verify_local(&store, &ids, true).await;
        assert_eq!(states, vec![CopyState::Intact, CopyState::Corrupt, CopyState::Missing]);
        let states = verify_local(&store, &ids, false).await;
        assert_eq!(states, vec![CopyState::Present, CopyState::Present, CopyState::Missing]);
    }
}
