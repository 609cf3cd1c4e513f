//! The client commands that need no file bodies: status, mkdir, ls, rm. Each prints for people by
//! default and one JSON document with `--json`.

use std::io::Write;

use serde_json::Value;

use crate::client::{json_or_error, Client};

/// Encodes a namespace path for a URL (each segment percent-encoded, `/` kept).
pub fn url_path(path: &str) -> String {
    let trimmed = path.trim_start_matches('/');
    trimmed
        .split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

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

/// `dfs status`: every node's view (role, term, leader, indexes), then every member's health,
/// last heartbeat, usage and chunk counts.
pub async fn status(client: &Client, json: bool) -> anyhow::Result<()> {
    let mut nodes = Vec::new();
    for node in client.nodes() {
        let one = client.for_node(node);
        let view = match one.http().get(format!("{node}/health")).send().await {
            Ok(response) => json_or_error(response)
                .await
                .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() })),
            Err(e) => serde_json::json!({ "url": node, "error": format!("unreachable: {e}") }),
        };
        nodes.push(serde_json::json!({ "url": node, "view": view }));
    }
    // The members as the cluster has committed them (any node answers).
    let members = client
        .get_json("/nodes")
        .await
        .unwrap_or_else(|e| serde_json::json!({ "error": format!("{e:#}") }));
    let value = serde_json::json!({ "nodes": nodes, "members": members });
    print(json, &value, |out| {
        writeln!(
            out,
            "{:<28} {:<5} {:<10} {:<6} {:<7} {:<8} files",
            "node", "id", "role", "term", "leader", "commit"
        )?;
        for node in &nodes {
            let v = &node["view"];
            if let Some(error) = v["error"].as_str() {
                writeln!(out, "{:<28} {error}", node["url"].as_str().unwrap_or("?"))?;
                continue;
            }
            writeln!(
                out,
                "{:<28} {:<5} {:<10} {:<6} {:<7} {:<8} {}",
                node["url"].as_str().unwrap_or("?"),
                v["node"].to_string(),
                v["role"].as_str().unwrap_or("?"),
                v["term"].to_string(),
                v["leader"].to_string(),
                v["commit_index"].to_string(),
                v["files"]
            )?;
        }
        writeln!(out)?;
        match members["error"].as_str() {
            Some(error) => writeln!(out, "members: {error}"),
            None => crate::cluster_cmds::print_members(out, &members),
        }
    })
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
