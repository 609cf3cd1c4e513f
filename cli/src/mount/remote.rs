//! The mount's calls to the cluster, all through the CLI's failover client and the native HTTP
//! API: stat, a listing page, folder and namespace changes, usage for `statfs`, and block reads
//! (range requests for one version, resumed on another node when the body is cut off).

use anyhow::{bail, Context};
use serde_json::Value;

use super::inodes::Meta;
use crate::client::{failure, json_or_error, ApiFailure, Client};
use crate::commands::{query, url_path};

/// A cluster path under the mount's remote folder.
#[derive(Clone, Debug)]
pub struct Remote {
    root: String,
}

impl Remote {
    /// Paths under `root` (`/` or `/a/b`).
    pub fn new(root: &str) -> Self {
        let trimmed = root.trim().trim_end_matches('/');
        let root = if trimmed.is_empty() {
            String::new()
        } else if trimmed.starts_with('/') {
            trimmed.to_owned()
        } else {
            format!("/{trimmed}")
        };
        Self { root }
    }

    /// The cluster path of a mount-relative path.
    pub fn of(&self, rel: &str) -> String {
        if rel == "/" {
            if self.root.is_empty() {
                "/".into()
            } else {
                self.root.clone()
            }
        } else {
            format!("{}{rel}", self.root)
        }
    }

    /// The mount-relative path of a cluster path (`None` outside the mount).
    pub fn relative(&self, remote: &str) -> Option<String> {
        if self.root.is_empty() {
            return Some(remote.to_owned());
        }
        if remote == self.root {
            return Some("/".into());
        }
        remote.strip_prefix(&self.root).filter(|r| r.starts_with('/')).map(str::to_owned)
    }
}

fn is_not_found(error: &anyhow::Error) -> bool {
    error.downcast_ref::<ApiFailure>().is_some_and(|f| f.status == 404)
}

/// A file's metadata from a listing row or `/stat`'s latest version.
fn meta_of(value: &Value, folder: bool) -> Meta {
    Meta {
        folder,
        size: value["size_bytes"].as_u64().unwrap_or(0),
        version: value["version"].as_u64(),
        hash: value["hash"].as_str().map(str::to_owned),
        mtime_ms: value["created_ms"].as_u64().unwrap_or(0),
    }
}

/// What is at `path` (linearizable); `None` when nothing live is there.
pub async fn stat(client: &Client, path: &str) -> anyhow::Result<Option<Meta>> {
    let url = url_path(path)?;
    if url.is_empty() {
        return Ok(Some(Meta { folder: true, size: 0, version: None, hash: None, mtime_ms: 0 }));
    }
    let value = match client.get_json(&format!("/stat/{url}")).await {
        Ok(value) => value,
        Err(error) if is_not_found(&error) => return Ok(None),
        Err(error) => return Err(error),
    };
    if value["kind"] == "folder" {
        return Ok(Some(Meta { folder: true, size: 0, version: None, hash: None, mtime_ms: 0 }));
    }
    if value["deleted"] == Value::Bool(true) {
        return Ok(None);
    }
    let latest = value["versions"].as_array().and_then(|v| v.last()).cloned().unwrap_or_default();
    Ok(Some(meta_of(&latest, false)))
}

/// One page of a folder's children (name, metadata) and the name to continue after.
pub async fn list_page(
    client: &Client,
    path: &str,
    after: Option<&str>,
    limit: usize,
) -> anyhow::Result<(Vec<(String, Meta)>, Option<String>)> {
    let url = url_path(path)?;
    let route = if url.is_empty() { "/list".to_owned() } else { format!("/list/{url}") };
    let mut pairs = vec![("limit", limit.to_string())];
    pairs.extend(after.map(|a| ("after", a.to_owned())));
    let page = client.get_json(&format!("{route}{}", query(&pairs))).await?;
    let mut rows = Vec::new();
    for entry in page["entries"].as_array().into_iter().flatten() {
        let Some(full) = entry["path"].as_str() else { continue };
        let name = full.rsplit('/').next().unwrap_or(full).to_owned();
        rows.push((name, meta_of(entry, entry["kind"] == "folder")));
    }
    Ok((rows, page["next"].as_str().map(str::to_owned)))
}

/// Creates the folder `path`.
pub async fn mkdir(client: &Client, path: &str) -> anyhow::Result<()> {
    let url = url_path(path)?;
    let response = client.send(|http, node| http.post(format!("{node}/folders/{url}"))).await?;
    json_or_error(response).await.map(drop)
}

/// Deletes the file or empty folder `path`.
pub async fn delete(client: &Client, path: &str) -> anyhow::Result<()> {
    let url = url_path(path)?;
    let response = client.send(|http, node| http.delete(format!("{node}/files/{url}"))).await?;
    json_or_error(response).await.map(drop)
}

/// Moves `from` to `to` (which must not exist) in one namespace command.
pub async fn rename(client: &Client, from: &str, to: &str) -> anyhow::Result<()> {
    let pairs = [("from", from), ("to", to)];
    let response =
        client.send(|http, node| http.post(format!("{node}/move{}", query(&pairs)))).await?;
    json_or_error(response).await.map(drop)
}

/// The cluster's (capacity, free) bytes over every member that reports them.
pub async fn usage(client: &Client) -> anyhow::Result<(u64, u64)> {
    let value = client.get_json("/nodes").await?;
    let capacity = value["cluster"]["capacity_bytes"].as_u64().unwrap_or(0);
    let free = value["cluster"]["free_bytes"].as_u64().unwrap_or(0);
    Ok((capacity, free))
}

/// The user the token proves.
pub async fn whoami(client: &Client) -> anyhow::Result<String> {
    let value = client.get_json("/whoami").await?;
    Ok(value["user"].as_str().or(value["name"].as_str()).unwrap_or("anonymous").to_owned())
}

/// Times a block read moves to another node after its body was cut off.
const RESUMES_MAX: usize = 3;

/// Bytes `start..end` of `version` (content `hash`) of `path`; a response for anything else or
/// cut short is asked again from another node.
pub async fn read_range(
    client: &Client,
    path: &str,
    version: u64,
    hash: &str,
    start: u64,
    end: u64,
) -> anyhow::Result<Vec<u8>> {
    let url = url_path(path)?;
    let want = (end - start) as usize;
    // A version's content never changes, so any replica that has the version may serve it
    // without a linearizable read; one that does not have it yet answers 404, and then the
    // read is asked again through the leader.
    let stale = std::sync::atomic::AtomicBool::new(true);
    let build = |http: &reqwest::Client, node: &str| {
        let freshness =
            if stale.load(std::sync::atomic::Ordering::Relaxed) { "&stale=true" } else { "" };
        http.get(format!("{node}/files/{url}?version={version}{freshness}"))
            .header(reqwest::header::RANGE, format!("bytes={start}-{}", end - 1))
    };
    let mut response = client.send(&build).await?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        stale.store(false, std::sync::atomic::Ordering::Relaxed);
        response = client.send(&build).await?;
    }
    let mut attempts = 0;
    loop {
        if !response.status().is_success() {
            return Err(failure(response).await.into());
        }
        let served = response.url().clone();
        let same =
            response.headers().get("x-dfs-blake3").and_then(|v| v.to_str().ok()) == Some(hash);
        if !same {
            bail!("a node answered with other content than v{version} of {path}");
        }
        match response.bytes().await {
            Ok(bytes) if bytes.len() == want => return Ok(bytes.to_vec()),
            Ok(bytes) if attempts >= RESUMES_MAX => {
                bail!("got {} of {want} bytes of {path}", bytes.len())
            }
            Err(error) if attempts >= RESUMES_MAX => {
                return Err(error).context(format!("reading {path}"));
            }
            _ => {}
        }
        attempts += 1;
        tracing::info!(path, start, "a block read was cut off; asking another node");
        response = client.send_avoiding(&served, &build).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::Remote;

    #[test]
    fn mount_paths_map_under_the_remote_folder() {
        let top = Remote::new("/");
        assert_eq!(top.of("/"), "/");
        assert_eq!(top.of("/a"), "/a");
        let sub = Remote::new("projects/x/");
        assert_eq!(sub.of("/"), "/projects/x");
        assert_eq!(sub.of("/a/b"), "/projects/x/a/b");
        assert_eq!(sub.relative("/projects/x/a").as_deref(), Some("/a"));
        assert_eq!(sub.relative("/projects/x").as_deref(), Some("/"));
        assert_eq!(sub.relative("/projects/xy/a"), None);
    }
}
