//! The client commands that need no file bodies: mkdir, ls, mv, rm. Each prints for people by
//! default and one JSON document with `--json`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::bail;
use serde_json::{json, Value};

use crate::client::{json_or_error, Client};
use dfs_core::path::{escape_for_display, Path};

/// Validates `path` as a namespace path (a missing leading `/` is added, as before) and encodes
/// it for a URL. An invalid path (a `..` segment, a control character, …) is a local error, so
/// nothing is sent: `dfs rm /../users/x` must not become `DELETE /users/x`.
pub fn url_path(path: &str) -> anyhow::Result<String> {
    Ok(dfs_runtime::http::url_path(&parse_path(path)?))
}

/// `path` as a namespace path (a missing leading `/` is added); the error names the path with
/// its control characters escaped.
pub fn parse_path(path: &str) -> anyhow::Result<Path> {
    let absolute = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
    Path::parse(&absolute)
        .map_err(|e| anyhow::anyhow!("invalid path '{}': {e}", escape_for_display(path)))
}

/// `?k=v&k2=v2` with each value percent-encoded (empty for no pairs).
pub(crate) fn query<V: AsRef<str>>(pairs: &[(&str, V)]) -> String {
    let encode = |value: &str| -> String {
        value
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let joined: Vec<String> =
        pairs.iter().map(|(key, value)| format!("{key}={}", encode(value.as_ref()))).collect();
    if joined.is_empty() {
        String::new()
    } else {
        format!("?{}", joined.join("&"))
    }
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

/// `dfs mkdir PATH`.
pub async fn mkdir(
    client: &Client,
    path: &str,
    owner: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let owner: Vec<(&str, &str)> = owner.map(|o| ("owner", o)).into_iter().collect();
    let url = format!("{}{}", url_path(path)?, query(&owner));
    let response = client.send(|http, node| http.post(format!("{node}/folders/{url}"))).await?;
    let value = json_or_error(response).await?;
    print(json, &value, |out| writeln!(out, "created {}", escape_for_display(path)))
}

/// `dfs rm PATH`, or with `-r` a folder and everything under it: `dfs rm -r` first says how
/// many files and folders would go and asks (unless `--yes`; without a terminal to ask on it
/// refuses).
pub async fn rm(
    client: &Client,
    path: &str,
    recursive: bool,
    yes: bool,
    json: bool,
) -> anyhow::Result<()> {
    let url = url_path(path)?;
    if url.is_empty() {
        // The root: nothing to count or confirm; the node refuses it (`root_immutable`).
        let response = client.send(|http, node| http.delete(format!("{node}/files"))).await?;
        let value = json_or_error(response).await?;
        return print(json, &value, |out| writeln!(out, "removed {path}"));
    }
    if !recursive {
        let response = client.send(|http, node| http.delete(format!("{node}/files/{url}"))).await?;
        let value = json_or_error(response).await?;
        return print(json, &value, |out| writeln!(out, "removed {}", escape_for_display(path)));
    }
    if !yes {
        let stat = client.get_json(&format!("/stat/{url}")).await?;
        let (files, folders) = if stat["kind"] == "folder" {
            (stat["files_below"].as_u64().unwrap_or(0), stat["folders_below"].as_u64().unwrap_or(0))
        } else {
            (1, 0)
        };
        let what = format!("{}: {files} file(s) and {folders} folder(s)", escape_for_display(path));
        if !std::io::stdin().is_terminal() {
            bail!("refusing to delete {what} without confirmation (stdin is not a terminal); pass --yes");
        }
        eprint!("delete {what}? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            bail!("not confirmed; nothing was deleted");
        }
    }
    let response =
        client.send(|http, node| http.delete(format!("{node}/files/{url}?recursive=true"))).await?;
    let value = json_or_error(response).await?;
    print(json, &value, |out| {
        let path = escape_for_display(path);
        writeln!(out, "removed {path} ({} file(s), {} folder(s))", value["files"], value["folders"])
    })
}

/// `dfs mv FROM TO`: a file with its history, or a folder with everything under it.
pub async fn mv(client: &Client, from: &str, to: &str, json: bool) -> anyhow::Result<()> {
    let (from, to) = (parse_path(from)?.to_string(), parse_path(to)?.to_string());
    let response = client
        .send(|http, node| {
            http.post(format!("{node}/move{}", query(&[("from", &from), ("to", &to)])))
        })
        .await?;
    let value = json_or_error(response).await?;
    print(json, &value, |out| {
        let (from, to) = (escape_for_display(&from), escape_for_display(&to));
        writeln!(out, "moved {} {from} -> {to}", value["kind"].as_str().unwrap_or("entry"))
    })
}

/// `dfs ls [PATH]`: follows the listing's pages, printing each as it arrives (with `--json`,
/// one document with every entry). With `stale`, from the answering node's replica as it is.
pub async fn ls(
    client: &Client,
    path: &str,
    page_size: usize,
    stale: bool,
    json: bool,
) -> anyhow::Result<()> {
    let url = url_path(path)?;
    let route = if url.is_empty() { "/list".to_owned() } else { format!("/list/{url}") };
    let mut after: Option<String> = None;
    let mut all = Vec::new();
    loop {
        let response = client
            .send(|http, node| {
                let mut pairs = vec![("limit", page_size.to_string())];
                pairs.extend(after.iter().map(|name| ("after", name.clone())));
                if stale {
                    pairs.push(("stale", "true".to_owned()));
                }
                http.get(format!("{node}{route}{}", query(&pairs)))
            })
            .await?;
        let page = json_or_error(response).await?;
        let entries = page["entries"].as_array().cloned().unwrap_or_default();
        if json {
            all.extend(entries);
        } else {
            print_rows(&entries)?;
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    if json {
        writeln!(std::io::stdout().lock(), "{}", json!({ "entries": all }))?;
    }
    Ok(())
}

fn print_rows(entries: &[Value]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for entry in entries {
        let path = escape_for_display(entry["path"].as_str().unwrap_or("?"));
        if entry["kind"] == "folder" {
            writeln!(out, "{:>12}  {:<4} {path}/", "-", "dir")?;
        } else {
            let (size, version) = (entry["size_bytes"].to_string(), entry["version"].to_string());
            writeln!(out, "{size:>12}  v{version:<3} {path}")?;
        }
    }
    Ok(())
}
