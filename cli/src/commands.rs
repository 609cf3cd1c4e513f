//! The client commands that need no file bodies: mkdir, ls, rm. Each prints for people by
//! default and one JSON document with `--json`.

use std::io::Write;

use serde_json::Value;

use crate::client::{json_or_error, Client};

pub use dfs_runtime::http::url_path;

/// Prints `value` as one JSON line with `--json`, else what `human` writes.
pub(crate) fn print(
    json: bool,
    value: &Value,
    human: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{value}")?;
    } else {
        human(&mut out)?;
    }
    Ok(())
}

/// `dfs mkdir PATH`.
pub async fn mkdir(client: &Client, path: &str, json: bool) -> anyhow::Result<()> {
    let url = url_path(path);
    let response = client.send(|http, node| http.post(format!("{node}/folders/{url}"))).await?;
    let value = json_or_error(response).await?;
    print(json, &value, |out| writeln!(out, "created {path}"))
}

/// `dfs rm PATH`.
pub async fn rm(client: &Client, path: &str, json: bool) -> anyhow::Result<()> {
    let url = url_path(path);
    let response = client.send(|http, node| http.delete(format!("{node}/files/{url}"))).await?;
    let value = json_or_error(response).await?;
    print(json, &value, |out| writeln!(out, "removed {path}"))
}

/// `dfs ls [PATH]`.
pub async fn ls(client: &Client, path: &str, json: bool) -> anyhow::Result<()> {
    let url = url_path(path);
    let route = if url.is_empty() { "/list".to_owned() } else { format!("/list/{url}") };
    let value = client.get_json(&route).await?;
    print(json, &value, |out| {
        for entry in value["entries"].as_array().into_iter().flatten() {
            let path = entry["path"].as_str().unwrap_or("?");
            if entry["kind"] == "folder" {
                writeln!(out, "{:>12}  {:<4} {path}/", "-", "dir")?;
            } else {
                let (size, version) =
                    (entry["size_bytes"].to_string(), entry["version"].to_string());
                writeln!(out, "{size:>12}  v{version:<3} {path}")?;
            }
        }
        Ok(())
    })
}
