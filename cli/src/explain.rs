//! `dfs explain PATH|NODE`: why a file or a node is not converged (which copies are missing or
//! stale, what the replication queue is doing about each, and what blocks it).

use std::io::Write;

use serde_json::Value;

use crate::client::Client;
use crate::commands::{print, url_path};

/// What `dfs explain` was asked about.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A file in the namespace.
    File(String),
    /// A member, by id.
    Node(u64),
}

impl Target {
    /// `/a/b` is a file; `3` or `n3` is a node.
    pub fn parse(raw: &str) -> Self {
        let id = raw.strip_prefix('n').unwrap_or(raw);
        match id.parse() {
            Ok(id) if !raw.starts_with('/') => Target::Node(id),
            _ => Target::File(raw.to_owned()),
        }
    }
}

/// `dfs explain TARGET`.
pub async fn explain(client: &Client, target: &str, json: bool) -> anyhow::Result<()> {
    let route = match Target::parse(target) {
        Target::Node(id) => format!("/explain/node/{id}"),
        Target::File(path) => format!("/explain/file/{}", url_path(&path)?),
    };
    let value = client.get_json(&route).await?;
    print(json, &value, |out| render(out, &value))
}

fn render(out: &mut dyn Write, value: &Value) -> std::io::Result<()> {
    let target = match &value["target"] {
        Value::String(path) => path.clone(),
        other => format!("n{other}"),
    };
    writeln!(out, "{target}: {}", value["summary"].as_str().unwrap_or("?"))?;
    if let Some(note) = value["note"].as_str() {
        writeln!(out, "note: {note}")?;
    }
    for chunk in value["chunks"].as_array().into_iter().flatten() {
        if chunk["converged"] == true {
            continue;
        }
        let copies: Vec<String> = chunk["copies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "n{}:{}/{}",
                    c["node"],
                    c["standing"].as_str().unwrap_or("?"),
                    c["health"].as_str().unwrap_or("?")
                )
            })
            .collect();
        let hash = chunk["chunk"].as_str().unwrap_or("?");
        writeln!(out, "  chunk {}  copies {}", &hash[..hash.len().min(12)], copies.join(" "))?;
        writeln!(out, "    {}", chunk["summary"].as_str().unwrap_or("?"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn targets_are_nodes_or_paths() {
        assert_eq!(Target::parse("3"), Target::Node(3));
        assert_eq!(Target::parse("n12"), Target::Node(12));
        assert_eq!(Target::parse("/3"), Target::File("/3".into()));
        assert_eq!(Target::parse("/photos/cat.jpg"), Target::File("/photos/cat.jpg".into()));
        assert_eq!(Target::parse("notes.txt"), Target::File("notes.txt".into()));
    }
}
