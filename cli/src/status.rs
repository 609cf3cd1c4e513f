//! `dfs status [--watch[=SECS]]`: a compact view of the cluster (every node's raft view, every
//! member's health and usage, the replication queue), once or refreshed until Ctrl-C.

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};

use crate::client::{json_or_error, Client};
use crate::cluster_cmds::{bytes, print_members};
use crate::commands::print;

/// Shortest refresh accepted by `--watch`.
const WATCH_MIN: Duration = Duration::from_millis(200);

/// `dfs status`, refreshed every `watch` seconds if given.
pub async fn status(client: &Client, watch: Option<f64>, json: bool) -> anyhow::Result<()> {
    let Some(secs) = watch else {
        let value = gather(client).await?;
        return print(json, &value, |out| render(out, &value));
    };
    let every = Duration::try_from_secs_f64(secs)
        .map_err(|_| anyhow::anyhow!("--watch takes a number of seconds, not {secs}"))?
        .max(WATCH_MIN);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = ticks.tick() => {}
        }
        let value = gather(client).await?;
        if json {
            print(true, &value, |_| Ok(()))?;
            continue;
        }
        let mut screen = Vec::new();
        // Clear the terminal and home the cursor, then draw the whole view at once.
        write!(screen, "\x1b[2J\x1b[H")?;
        render(&mut screen, &value)?;
        writeln!(screen, "\nrefreshing every {:.1} s; Ctrl-C to stop", every.as_secs_f64())?;
        let mut out = std::io::stdout().lock();
        out.write_all(&screen)?;
        out.flush()?;
    }
}

/// Every node's `/health`, and the members and queue as any node answers them.
async fn gather(client: &Client) -> anyhow::Result<Value> {
    let mut nodes = Vec::new();
    for node in client.nodes() {
        let one = client.for_node(node);
        let view = match one.http().get(format!("{node}/health")).send().await {
            Ok(response) => {
                json_or_error(response).await.unwrap_or_else(|e| json!({ "error": e.to_string() }))
            }
            Err(e) => json!({ "url": node, "error": format!("unreachable: {e}") }),
        };
        nodes.push(json!({ "url": node, "view": view }));
    }
    let members =
        client.get_json("/nodes").await.unwrap_or_else(|e| json!({ "error": format!("{e:#}") }));
    let queue = client
        .get_json("/replication-queue?limit=5")
        .await
        .unwrap_or_else(|e| json!({ "error": format!("{e:#}") }));
    Ok(json!({ "nodes": nodes, "members": members, "queue": queue }))
}

fn render(out: &mut dyn Write, value: &Value) -> std::io::Result<()> {
    let members = &value["members"];
    let leader = members["leader"].as_u64().map_or_else(|| "none".into(), |l| format!("n{l}"));
    writeln!(out, "leader {leader}, term {}", members["term"])?;
    writeln!(
        out,
        "{:<28} {:<5} {:<10} {:<6} {:<7} {:<8} {:<6} files",
        "node", "id", "role", "term", "leader", "commit", "ready"
    )?;
    for node in value["nodes"].as_array().into_iter().flatten() {
        let v = &node["view"];
        if let Some(error) = v["error"].as_str() {
            writeln!(out, "{:<28} {error}", node["url"].as_str().unwrap_or("?"))?;
            continue;
        }
        writeln!(
            out,
            "{:<28} {:<5} {:<10} {:<6} {:<7} {:<8} {:<6} {}",
            node["url"].as_str().unwrap_or("?"),
            v["node"].to_string(),
            v["role"].as_str().unwrap_or("?"),
            v["term"].to_string(),
            v["leader"].to_string(),
            v["commit_index"].to_string(),
            if v["ready"] == true { "yes" } else { "no" },
            v["files"]
        )?;
    }
    writeln!(out)?;
    match members["error"].as_str() {
        Some(error) => writeln!(out, "members: {error}")?,
        None => print_members(out, members)?,
    }
    let queue = &value["queue"];
    match queue["error"].as_str() {
        Some(error) => writeln!(out, "queue: {error}"),
        None => writeln!(
            out,
            "queue: {} copies ({} to copy), oldest waiting {:.1} s; {} done, {} failed in the last \
             10 min",
            queue["total"],
            bytes(queue["bytes_pending"].as_u64().unwrap_or(0)),
            queue["oldest_waiting_ms"].as_f64().unwrap_or(0.0) / 1000.0,
            queue["done_total"],
            queue["failed_recent"],
        ),
    }
}
