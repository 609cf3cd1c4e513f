//! `dfs put`, `dfs get`, `dfs stat`: file bodies stream both ways (never whole-file buffers),
//! with a progress bar for large transfers on a terminal. `put` sends the file's blake3 so the
//! node refuses a body damaged on the way; `get` checks the received bytes against the version's
//! hash before renaming the download into place, and resumes a body cut off part way (the node
//! serving it died) from another node with a range request for the same version.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::client::{failure, json_or_error, Client};
use crate::commands::url_path;
use dfs_core::path::escape_for_display;

/// How much of a local file is read at a time while uploading.
pub const READ_BYTES: usize = 1024 * 1024;

/// Transfers at least this large show a progress bar.
pub const PROGRESS_BYTES_MIN: u64 = 8 * 1024 * 1024;

fn progress(len: u64) -> ProgressBar {
    if len < PROGRESS_BYTES_MIN {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let style =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}");
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

/// blake3 of a local file, streamed.
fn hash_file(path: &Path) -> anyhow::Result<blake3::Hash> {
    let mut hasher = blake3::Hasher::new();
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    hasher.update_reader(file).with_context(|| format!("reading {}", path.display()))?;
    Ok(hasher.finalize())
}

/// Options of a put.
pub struct PutOptions {
    /// Commit only if the file's latest version is this.
    pub if_version: Option<u64>,
    /// Commit only if nothing is at the path.
    pub if_absent: bool,
}

/// `dfs put LOCAL PATH`.
pub async fn put(
    client: &Client,
    local: &Path,
    path: &str,
    options: PutOptions,
    json: bool,
) -> anyhow::Result<()> {
    let len =
        std::fs::metadata(local).with_context(|| format!("reading {}", local.display()))?.len();
    let hash = hash_file(local)?;
    let url = url_path(path)?;
    // One key per invocation, shared only by this put's retries and failover.
    let key = crate::client::fresh_idempotency_key("put")?;
    let bar = progress(len);
    let response = client
        .send(|http, node| {
            let mut request = http
                .put(format!("{node}/files/{url}"))
                .header("x-dfs-blake3", hash.to_hex().as_str())
                .header("idempotency-key", key.as_str())
                .header("content-length", len);
            if let Some(v) = options.if_version {
                request = request.header("if-match", v.to_string());
            } else if options.if_absent {
                request = request.header("if-none-match", "*");
            }
            match std::fs::File::open(local) {
                Ok(file) => {
                    bar.set_position(0);
                    let bar = bar.clone();
                    let stream = tokio_util::io::ReaderStream::with_capacity(
                        tokio::fs::File::from_std(file),
                        READ_BYTES,
                    )
                    .inspect(move |chunk| {
                        if let Ok(bytes) = chunk {
                            bar.inc(bytes.len() as u64);
                        }
                    });
                    request.body(reqwest::Body::wrap_stream(stream))
                }
                Err(_) => request,
            }
        })
        .await?;
    bar.finish_and_clear();
    let value = json_or_error(response).await?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{value}")?;
    } else {
        let replicas = value["replicas"].as_object().map(|m| {
            m.iter()
                .map(|(node, state)| format!("{node}:{}", state.as_str().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(" ")
        });
        writeln!(
            out,
            "{} v{} {} bytes blake3={} [{}]",
            escape_for_display(path),
            value["version"],
            value["size_bytes"],
            value["hash"].as_str().unwrap_or("?"),
            replicas.unwrap_or_default()
        )?;
    }
    Ok(())
}

/// Which version of a file a download asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Which {
    /// The latest.
    Latest,
    /// Version N.
    Version(u64),
    /// The version a checkpoint names.
    Checkpoint(String),
}

impl Which {
    fn query(&self) -> Vec<(&'static str, String)> {
        match self {
            Which::Latest => Vec::new(),
            Which::Version(v) => vec![("version", v.to_string())],
            Which::Checkpoint(name) => vec![("checkpoint", name.clone())],
        }
    }
}

/// What a download fetched.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The version served.
    pub version: Option<u64>,
    /// Bytes received.
    pub size_bytes: u64,
    /// Their blake3 (hex), checked against the version's.
    pub hash: String,
}

/// `dfs get PATH [LOCAL]` (LOCAL `-` is stdout).
pub async fn get(
    client: &Client,
    path: &str,
    local: &Path,
    which: &Which,
    stale: bool,
    json: bool,
) -> anyhow::Result<()> {
    let fetched = fetch_read(client, path, local, which, stale).await?;
    if local == Path::new("-") {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let received = fetched.size_bytes;
    if json {
        let value = serde_json::json!({ "path": path, "local": local.display().to_string(), "version": fetched.version, "size_bytes": received, "hash": fetched.hash });
        writeln!(out, "{value}")?;
    } else {
        writeln!(
            out,
            "{path} v{} -> {} ({received} bytes, verified)",
            fetched.version.map(|v| v.to_string()).unwrap_or_default(),
            local.display()
        )?;
    }
    Ok(())
}

/// Downloads `which` version of `path` to `local` (`-`: stdout), verified against the version's
/// blake3; a damaged or cut-off download leaves nothing at `local`.
pub async fn fetch(
    client: &Client,
    path: &str,
    local: &Path,
    which: &Which,
) -> anyhow::Result<Fetched> {
    fetch_read(client, path, local, which, false).await
}

/// [`fetch`], from the answering node's replica as it is when `stale` (possibly behind the
/// latest acknowledged write; docs/consistency.md), else linearizably.
pub async fn fetch_read(
    client: &Client,
    path: &str,
    local: &Path,
    which: &Which,
    stale: bool,
) -> anyhow::Result<Fetched> {
    let url = url_path(path)?;
    let mut pairs = which.query();
    if stale {
        pairs.push(("stale", "true".to_owned()));
    }
    let query = crate::commands::query(&pairs);
    let response = client.send(|http, node| http.get(format!("{node}/files/{url}{query}"))).await?;
    if !response.status().is_success() {
        return Err(failure(response).await.into());
    }
    let header = |name: &str| response.headers().get(name)?.to_str().ok().map(str::to_owned);
    let wanted = Wanted {
        url,
        version: header("x-dfs-version").and_then(|v| v.parse().ok()),
        hash: header("x-dfs-blake3"),
        len: response.content_length().unwrap_or(0),
    };
    let to_stdout = local == Path::new("-");
    let temp = local.with_extension(format!("dfs-partial-{}", std::process::id()));
    let mut sink: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = if to_stdout {
        Box::new(tokio::io::stdout())
    } else {
        Box::new(
            tokio::fs::File::create(&temp)
                .await
                .with_context(|| format!("creating {}", temp.display()))?,
        )
    };
    let bar = if to_stdout { ProgressBar::hidden() } else { progress(wanted.len) };
    let downloaded = download(client, response, &wanted, &mut sink, &bar).await;
    drop(sink);
    bar.finish_and_clear();
    let (received, actual) = match downloaded {
        Ok(done) => done,
        Err(error) => {
            let _ = std::fs::remove_file(&temp);
            return Err(error.context(format!("downloading {path}; nothing was written")));
        }
    };
    if received != wanted.len || wanted.hash.as_deref().is_some_and(|e| e != actual) {
        let _ = std::fs::remove_file(&temp);
        bail!("download of {path} is damaged ({received} of {} bytes, blake3 {actual}); nothing was written", wanted.len);
    }
    if !to_stdout {
        std::fs::rename(&temp, local)
            .with_context(|| format!("moving the download to {}", local.display()))?;
    }
    Ok(Fetched { version: wanted.version, size_bytes: received, hash: actual })
}

/// Times one download may be resumed after its body was cut off (e.g. the serving node died).
pub const RESUMES_MAX: usize = 3;

/// The version a download is fetching, as its first answer described it.
struct Wanted {
    url: String,
    version: Option<u64>,
    hash: Option<String>,
    len: u64,
}

/// Streams `response`'s body into `sink`, hashing it; a body cut off part way is resumed with a
/// range request for the same version, from whichever node answers (DESIGN §2 "failover").
/// Returns the bytes received and their blake3.
async fn download(
    client: &Client,
    mut response: reqwest::Response,
    wanted: &Wanted,
    sink: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    bar: &ProgressBar,
) -> anyhow::Result<(u64, String)> {
    let mut hasher = blake3::Hasher::new();
    let mut received = 0u64;
    let mut resumes = 0;
    loop {
        let response_url = response.url().clone();
        let mut body = response.bytes_stream();
        let cut = loop {
            match body.next().await {
                Some(Ok(piece)) => {
                    hasher.update(&piece);
                    received += piece.len() as u64;
                    sink.write_all(&piece).await?;
                    bar.inc(piece.len() as u64);
                }
                Some(Err(error)) => break Some(error),
                None => break None,
            }
        };
        let Some(error) = cut else { break };
        let error = anyhow::Error::new(error).context("the download was cut off");
        let Some(version) = wanted.version.filter(|_| resumes < RESUMES_MAX) else {
            return Err(error);
        };
        if received >= wanted.len {
            return Err(error);
        }
        resumes += 1;
        response = resume(client, &response_url, wanted, version, received)
            .await
            .map_err(|e| e.context(error))?;
    }
    sink.flush().await?;
    Ok((received, hasher.finalize().to_hex().to_string()))
}

/// Asks for the rest of `version` from byte `from` on, from another node than the one that
/// `served` the part so far if one answers, and checks the answer continues it.
async fn resume(
    client: &Client,
    served: &reqwest::Url,
    wanted: &Wanted,
    version: u64,
    from: u64,
) -> anyhow::Result<reqwest::Response> {
    let url = &wanted.url;
    let response = client
        .send_avoiding(served, |http, node| {
            http.get(format!("{node}/files/{url}?version={version}"))
                .header(reqwest::header::RANGE, format!("bytes={from}-"))
        })
        .await?;
    if !response.status().is_success() {
        return Err(failure(response).await.into());
    }
    let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
    let range = format!("bytes {from}-{}/{}", wanted.len.saturating_sub(1), wanted.len);
    let same_hash = header("x-dfs-blake3") == wanted.hash.as_deref();
    if response.status() != reqwest::StatusCode::PARTIAL_CONTENT
        || header(reqwest::header::CONTENT_RANGE.as_str()) != Some(range.as_str())
        || !same_hash
    {
        bail!("resuming at byte {from}, a node answered with something other than the rest of v{version}");
    }
    Ok(response)
}

/// `dfs stat PATH`: versions, sizes, hashes and where each chunk's copies are (from the
/// answering node's replica as it is with `stale`).
pub async fn stat(client: &Client, path: &str, stale: bool, json: bool) -> anyhow::Result<()> {
    let query = if stale { "?stale=true" } else { "" };
    let value = client.get_json(&format!("/stat/{}{query}", url_path(path)?)).await?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{value}")?;
        return Ok(());
    }
    writeln!(
        out,
        "{} ({}{})",
        escape_for_display(path),
        value["kind"].as_str().unwrap_or("?"),
        if value["deleted"] == Value::Bool(true) { ", deleted" } else { "" }
    )?;
    for version in value["versions"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  v{} {} bytes blake3={} by {}",
            version["version"],
            version["size_bytes"],
            version["hash"].as_str().unwrap_or("?"),
            version["author"].as_str().unwrap_or("?")
        )?;
        for chunk in version["chunks"].as_array().into_iter().flatten() {
            let id = chunk["hash"].as_str().unwrap_or("?");
            let replicas: Vec<String> = chunk["replicas"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| format!("n{n}"))
                .collect();
            writeln!(
                out,
                "    chunk {} {} bytes on {}",
                &id[..id.len().min(12)],
                chunk["len_bytes"],
                replicas.join(",")
            )?;
        }
    }
    Ok(())
}
