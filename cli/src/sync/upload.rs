//! Chunk-level upload (`POST /chunks/missing`, then `POST /commit/{path}`): the file is chunked
//! here with the nodes' own chunker (same FastCDC sizes, so the same boundaries), the cluster is
//! asked which chunks it lacks, and the commit request carries the manifest plus only those
//! chunks. An edit inside a large file sends only the chunks around it. The file is read twice
//! (once to chunk and hash, once to send), streamed both times; if it changed in between, the
//! second pass notices (a chunk no longer hashes as listed) and the upload fails cleanly: the
//! watcher sees the newer change and pushes again.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use bytes::Bytes;
use dfs_runtime::chunker::Chunker;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::client::{failure, json_or_error, Client};
use crate::commands::url_path;

/// How much of a file is read at a time.
const READ_BYTES: usize = 1024 * 1024;
/// Chunk hashes asked about per `POST /chunks/missing` (the node allows 10,000).
const ASK_BATCH: usize = 5_000;
/// Body pieces queued between the reading thread and the request.
const BODY_QUEUE: usize = 4;
/// Times the missing chunks are asked again after a `chunks_missing` refusal.
const ASKS_MAX: usize = 3;

/// One chunk of a local file.
#[derive(Clone, Debug)]
pub struct LocalChunk {
    /// blake3 (hex).
    pub hash: String,
    /// Length.
    pub len_bytes: usize,
}

/// A local file chunked as the nodes chunk it.
#[derive(Clone, Debug)]
pub struct Chunked {
    /// Its chunks, in order.
    pub chunks: Vec<LocalChunk>,
    /// Its length.
    pub size_bytes: u64,
    /// blake3 of the whole file (hex).
    pub hash: String,
}

/// What a push sent and made.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// The version committed.
    pub version: u64,
    /// Chunk bytes sent (the rest was already in the cluster).
    pub sent_bytes: u64,
    /// The file's length.
    pub size_bytes: u64,
    /// The file's blake3 (hex).
    pub hash: String,
}

/// The condition a push commits under.
#[derive(Clone, Copy, Debug)]
pub enum Condition {
    /// Only if nothing is at the path.
    Absent,
    /// Only if this is still the latest version.
    Version(u64),
}

/// Reads and chunks `path` (blocking; run it off the async threads).
pub fn chunk_file(path: &Path) -> anyhow::Result<Chunked> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut chunker = Chunker::new();
    let mut whole = blake3::Hasher::new();
    let mut chunks = Vec::new();
    let mut buffer = vec![0u8; READ_BYTES];
    let mut size_bytes = 0u64;
    let mut add = |bytes: &Bytes| {
        chunks.push(LocalChunk {
            hash: blake3::hash(bytes).to_hex().to_string(),
            len_bytes: bytes.len(),
        });
    };
    loop {
        let read = file.read(&mut buffer).with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        size_bytes += read as u64;
        whole.update(&buffer[..read]);
        chunker.push(&buffer[..read]).iter().for_each(&mut add);
    }
    chunker.finish().iter().for_each(&mut add);
    Ok(Chunked { chunks, size_bytes, hash: whole.finalize().to_hex().to_string() })
}

/// Uploads `local` as a new version of `path`, sending only the chunks the cluster lacks.
pub async fn push(
    client: &Client,
    local: &Path,
    path: &str,
    condition: Condition,
) -> anyhow::Result<Pushed> {
    let owned = local.to_path_buf();
    let chunked = tokio::task::spawn_blocking(move || chunk_file(&owned)).await??;
    // One key per upload, shared only by its retries (and its re-asks for missing chunks).
    let key = crate::client::fresh_idempotency_key("sync")?;
    let mut asks = 0;
    loop {
        let missing = missing(client, &chunked).await?;
        match commit(client, local, path, &chunked, &missing, condition, &key).await {
            Ok(value) => {
                let sent_bytes = value["sent_bytes"].as_u64().unwrap_or(0);
                let version = value["version"].as_u64().context("the commit named no version")?;
                return Ok(Pushed {
                    version,
                    sent_bytes,
                    size_bytes: chunked.size_bytes,
                    hash: chunked.hash,
                });
            }
            Err(error) if asks < ASKS_MAX && is_chunks_missing(&error) => asks += 1,
            Err(error) => return Err(error),
        }
    }
}

fn is_chunks_missing(error: &anyhow::Error) -> bool {
    error.downcast_ref::<crate::client::ApiFailure>().is_some_and(|f| f.code == "chunks_missing")
}

/// The chunks of `chunked` the cluster does not hold.
async fn missing(client: &Client, chunked: &Chunked) -> anyhow::Result<BTreeSet<String>> {
    let unique: BTreeSet<&str> = chunked.chunks.iter().map(|c| c.hash.as_str()).collect();
    let unique: Vec<&str> = unique.into_iter().collect();
    let mut missing = BTreeSet::new();
    for batch in unique.chunks(ASK_BATCH) {
        let body = json!({ "chunks": batch });
        let response = client
            .send(|http, node| http.post(format!("{node}/chunks/missing")).json(&body))
            .await?;
        let value = json_or_error(response).await?;
        let listed = value["missing"].as_array().cloned().unwrap_or_default();
        missing.extend(listed.iter().filter_map(|h| h.as_str().map(str::to_owned)));
    }
    Ok(missing)
}

/// `POST /commit/{path}` with the manifest and the bytes of the `missing` chunks.
async fn commit(
    client: &Client,
    local: &Path,
    path: &str,
    chunked: &Chunked,
    missing: &BTreeSet<String>,
    condition: Condition,
    key: &str,
) -> anyhow::Result<Value> {
    let chunks: Vec<Value> = chunked
        .chunks
        .iter()
        .map(|c| json!({ "hash": c.hash, "len_bytes": c.len_bytes, "sent": missing.contains(&c.hash) }))
        .collect();
    let mut line = serde_json::to_vec(
        &json!({ "size_bytes": chunked.size_bytes, "hash": chunked.hash, "chunks": chunks }),
    )?;
    line.push(b'\n');
    let line = Bytes::from(line);
    let sent: Vec<bool> = chunked.chunks.iter().map(|c| missing.contains(&c.hash)).collect();
    let url = url_path(path)?;
    let response = client
        .send(|http, node| {
            let mut request =
                http.post(format!("{node}/commit/{url}")).header("idempotency-key", key).body(
                    body(line.clone(), local.to_path_buf(), chunked.chunks.clone(), sent.clone()),
                );
            request = match condition {
                Condition::Absent => request.header("if-none-match", "*"),
                Condition::Version(v) => request.header("if-match", v.to_string()),
            };
            request
        })
        .await?;
    if !response.status().is_success() {
        return Err(failure(response).await.into());
    }
    response.json().await.context("reading the commit's answer")
}

/// The commit body, produced by a reading thread: the manifest line, then the sent chunks.
fn body(line: Bytes, local: PathBuf, chunks: Vec<LocalChunk>, sent: Vec<bool>) -> reqwest::Body {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(BODY_QUEUE);
    tokio::task::spawn_blocking(move || {
        if tx.blocking_send(Ok(line)).is_err() {
            return;
        }
        if let Err(error) = send_chunks(&local, &chunks, &sent, &tx) {
            let _ = tx.blocking_send(Err(std::io::Error::other(error.to_string())));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item, rx))
    });
    reqwest::Body::wrap_stream(stream)
}

/// Re-chunks `local` and sends the chunks marked in `sent`, checking each still hashes as listed.
fn send_chunks(
    local: &Path,
    chunks: &[LocalChunk],
    sent: &[bool],
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> anyhow::Result<()> {
    let mut file = std::fs::File::open(local)?;
    let mut chunker = Chunker::new();
    let mut buffer = vec![0u8; READ_BYTES];
    let mut next = 0usize;
    let mut forward = |bytes: Bytes| -> anyhow::Result<()> {
        let listed = chunks.get(next).ok_or_else(|| anyhow!("{} grew", local.display()))?;
        if blake3::hash(&bytes).to_hex().as_str() != listed.hash {
            return Err(anyhow!("{} changed while it was uploaded", local.display()));
        }
        if sent.get(next).copied().unwrap_or(false) {
            tx.blocking_send(Ok(bytes)).map_err(|_| anyhow!("the request ended"))?;
        }
        next += 1;
        Ok(())
    };
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        for bytes in chunker.push(&buffer[..read]) {
            forward(bytes)?;
        }
    }
    for bytes in chunker.finish() {
        forward(bytes)?;
    }
    if next != chunks.len() {
        return Err(anyhow!("{} shrank while it was uploaded", local.display()));
    }
    Ok(())
}
