//! Cluster commands (DESIGN §2 "heartbeats", "replication queue", "recovery sync", "rebalance"):
//! `dfs queue`, `dfs recover NODE`, `dfs node add|drain|remove ID`, and the members
//! table of `dfs status`. Each prints for people by default and one JSON document with `--json`.

use std::io::Write;

use serde_json::Value;

use crate::client::{json_or_error, Client};
use crate::commands::print;

/// Human-readable bytes (KiB, MiB, GiB).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// How full a disk is, as a percentage (`?` when its size is unknown).
fn fraction_used(free: Option<u64>, capacity: Option<u64>) -> String {
    match (free, capacity) {
        (Some(free), Some(capacity)) if capacity > 0 => {
            let used = capacity.saturating_sub(free) as f64 / capacity as f64;
            format!("{:.0}%", 100.0 * used)
        }
        _ => "?".to_owned(),
    }
}

/// Prints the members table of `GET /nodes`.
pub fn print_members(out: &mut dyn Write, members: &Value) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<5} {:<8} {:<9} {:<8} {:<15} {:>11} {:>11} {:>11} {:>6} {:>8} {:>8}",
        "id",
        "role",
        "state",
        "health",
        "last heartbeat",
        "used",
        "free",
        "capacity",
        "full",
        "chunks",
        "indexed"
    )?;
    let size = |v: &Value| v.as_u64().map_or_else(|| "?".into(), bytes);
    for n in members["nodes"].as_array().into_iter().flatten() {
        let leader = if n["leader"] == true { "*" } else { "" };
        let heard = n["last_heartbeat_ms"]
            .as_u64()
            .map_or_else(|| "never".to_owned(), |ms| format!("{:.1} s ago", ms as f64 / 1000.0));
        writeln!(
            out,
            "{:<5} {:<8} {:<9} {:<8} {:<15} {:>11} {:>11} {:>11} {:>6} {:>8} {:>8}",
            format!("{}{leader}", n["id"]),
            n["role"].as_str().unwrap_or("?"),
            n["state"].as_str().unwrap_or("?"),
            n["health"].as_str().unwrap_or("?"),
            heard,
            size(&n["used_bytes"]),
            size(&n["free_bytes"]),
            size(&n["capacity_bytes"]),
            fraction_used(n["free_bytes"].as_u64(), n["capacity_bytes"].as_u64()),
            n["chunk_count"].as_u64().map_or_else(|| "?".into(), |c| c.to_string()),
            n["chunks_indexed"],
        )?;
    }
    let cluster = &members["cluster"];
    writeln!(
        out,
        "cluster: {} used, {} free of {} ({} full)",
        size(&cluster["used_bytes"]),
        size(&cluster["free_bytes"]),
        size(&cluster["capacity_bytes"]),
        fraction_used(cluster["free_bytes"].as_u64(), cluster["capacity_bytes"].as_u64()),
    )?;
    writeln!(
        out,
        "(* = raft leader; usage and disk space as last reported to the leader; full = the disk's \
         used fraction)"
    )
}

/// `dfs queue`: the replication queue.
pub async fn queue(client: &Client, limit: usize, json: bool) -> anyhow::Result<()> {
    let value = client.get_json(&format!("/replication-queue?limit={limit}")).await?;
    print(json, &value, |out| print_queue(out, &value))
}

fn print_queue(out: &mut dyn Write, value: &Value) -> std::io::Result<()> {
    writeln!(
        out,
        "{} chunk copies queued ({} to copy); {} done since node {} became leader, {} failed in \
         the last 10 min",
        value["total"],
        bytes(value["bytes_pending"].as_u64().unwrap_or(0)),
        value["done_total"],
        value["leader"],
        value["failed_recent"],
    )?;
    let entries = value["entries"].as_array().cloned().unwrap_or_default();
    if !entries.is_empty() {
        writeln!(
            out,
            "{:<12} {:<11} {:<9} {:>6} {:>6} {:>8}  {:<30} last error",
            "chunk", "state", "kind", "from", "to", "attempts", "files"
        )?;
    }
    for e in &entries {
        let files: Vec<&str> =
            e["paths"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        writeln!(
            out,
            "{:<12} {:<11} {:<9} {:>6} {:>6} {:>8}  {:<30} {}",
            e["chunk"].as_str().map_or("?", |h| &h[..h.len().min(12)]),
            e["state"].as_str().unwrap_or("?"),
            e["kind"].as_str().unwrap_or("?"),
            e["source"],
            e["target"],
            e["attempts"],
            files.join(","),
            e["last_error"].as_str().unwrap_or(""),
        )?;
    }
    Ok(())
}

/// `dfs recover NODE`: runs a recovery sync on NODE and prints its summary.
pub async fn recover(client: &Client, node: u64, json: bool) -> anyhow::Result<()> {
    let response =
        client.send(|http, url| http.post(format!("{url}/nodes/{node}/recover"))).await?;
    let value = json_or_error(response).await?;
    let s = &value["summary"];
    print(json, &value, |out| {
        writeln!(
            out,
            "node {node}: {} chunks stored, {} expected, {} missing; pulled {} ({}), {} failed; dropped {} unneeded, claimed {}",
            s["inventory"], s["expected"], s["missing"], s["pulled"],
            bytes(s["bytes_pulled"].as_u64().unwrap_or(0)), s["pull_failed"], s["dropped"], s["claimed"],
        )
    })
}

/// `dfs node drain ID`: marks the node draining; with `wait`, polls until nothing counts on it.
pub async fn drain(client: &Client, node: u64, wait: bool, json: bool) -> anyhow::Result<()> {
    let response = client.send(|http, url| http.post(format!("{url}/nodes/{node}/drain"))).await?;
    let value = json_or_error(response).await?;
    if wait {
        let bar = indicatif::ProgressBar::new_spinner();
        let mut polls = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            polls.tick().await;
            let members = client.get_json("/nodes").await?;
            let left = members["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| n["id"] == node)
                .map_or(0, |n| n["chunks_indexed"].as_u64().unwrap_or(0));
            bar.set_message(format!("node {node}: {left} chunk copies left to move"));
            bar.tick();
            if left == 0 {
                bar.finish_and_clear();
                break;
            }
        }
    }
    print(json, &value, |out| {
        if wait {
            writeln!(out, "node {node} is drained; remove it with: dfs node remove {node}")
        } else {
            writeln!(out, "node {node} is draining; watch it with: dfs status (or dfs queue)")
        }
    })
}

/// `dfs node add ID [--addr PEER,HTTP]`: adds the member (recording its addresses first).
pub async fn add(
    client: &Client,
    node: u64,
    learner: bool,
    addr: Option<(std::net::SocketAddr, std::net::SocketAddr)>,
    json: bool,
) -> anyhow::Result<()> {
    let role = if learner { "learner" } else { "voter" };
    let mut query = format!("role={role}");
    if let Some((peer, http)) = addr {
        query.push_str(&format!("&peer={peer}&http={http}"));
    }
    let response =
        client.send(|http, url| http.post(format!("{url}/nodes/{node}?{query}"))).await?;
    let value = json_or_error(response).await?;
    print(json, &value, |out| {
        writeln!(out, "node {node} added as a {role}; rebalance will move chunks onto it")
    })
}

/// `dfs node remove ID`: removes the member (refused while it is not drained).
pub async fn remove(client: &Client, node: u64, json: bool) -> anyhow::Result<()> {
    let response = client.send(|http, url| http.delete(format!("{url}/nodes/{node}"))).await?;
    let value = json_or_error(response).await?;
    print(json, &value, |out| writeln!(out, "node {node} removed from the cluster"))
}
