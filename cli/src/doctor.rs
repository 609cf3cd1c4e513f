//! `dfs doctor`: the checks an operator runs before a change, in one command. Every node given
//! (`--node`/`DFS_NODES`) must answer and be ready, agree on one leader and one term, run the
//! same version and keep its clock near this machine's; every member must be up with free space
//! above the reserve; the replication queue must be empty with no copy failing. Exit 0 when all
//! is well, else a table of problems (or, with `--json`, `{"ok", "problems", "nodes"}`) and exit
//! status 1.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::client::{json_or_error, Client};
use crate::commands::print;

/// Largest clock difference between a node and this machine that passes (one way of a request
/// is counted in its favour).
pub const CLOCK_SKEW_MAX: Duration = Duration::from_millis(500);
/// Least free fraction of a member's disk that passes, unless `--reserve-free` says otherwise.
pub const FREE_RESERVE: f64 = 0.05;

/// One problem found: what it concerns (`n2`, `cluster`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The node or `cluster`.
    pub subject: String,
    /// A short stable name of the check (`unreachable`, `not_ready`, ...).
    pub check: &'static str,
    /// What was found.
    pub detail: String,
}

fn problem(subject: impl Into<String>, check: &'static str, detail: String) -> Problem {
    Problem { subject: subject.into(), check, detail }
}

fn millis_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// How far a node's clock reading `at` lies outside the window `[sent, received]` of this
/// machine's clock in which the node read it (0 inside).
fn skew_ms(at: u64, sent: u64, received: u64) -> u64 {
    if at < sent {
        sent - at
    } else {
        at.saturating_sub(received)
    }
}

/// `dfs doctor`: runs every check; `Err` (exit 1) when a problem was found.
pub async fn doctor(client: &Client, reserve_free: f64, json: bool) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&reserve_free) {
        anyhow::bail!("--reserve-free is a fraction between 0 and 1, not {reserve_free}");
    }
    let mut problems = Vec::new();
    let mut healths = Vec::new();
    for url in client.nodes() {
        let one = client.for_node(url);
        let sent = millis_now();
        let answer = one.http().get(format!("{url}/health")).send().await;
        let received = millis_now();
        let health = match answer {
            Ok(response) => match json_or_error(response).await {
                Ok(health) => health,
                Err(e) => {
                    problems.push(problem(url.as_str(), "unreachable", format!("{e:#}")));
                    continue;
                }
            },
            Err(e) => {
                problems.push(problem(url.as_str(), "unreachable", format!("{e}")));
                continue;
            }
        };
        let name = format!("n{}", health["node"]);
        if health["ready"] != true {
            let reason = health["reason"].as_str().unwrap_or("no reason given");
            problems.push(problem(&name, "not_ready", reason.to_owned()));
        }
        if let Some(at) = health["time_ms"].as_u64() {
            let skew = skew_ms(at, sent, received);
            if skew > CLOCK_SKEW_MAX.as_millis() as u64 {
                let detail = format!(
                    "its clock is {skew} ms off this machine's (at most {} ms passes)",
                    CLOCK_SKEW_MAX.as_millis()
                );
                problems.push(problem(&name, "clock_skew", detail));
            }
        }
        healths.push((name, health));
    }
    agreement(&healths, &mut problems);
    members(client, reserve_free, &mut problems).await;
    queue(client, &mut problems).await;
    let ok = problems.is_empty();
    let value = json!({
        "ok": ok,
        "problems": problems.iter().map(|p| json!({
            "subject": p.subject, "check": p.check, "detail": p.detail,
        })).collect::<Vec<_>>(),
        "nodes": healths.iter().map(|(_, h)| h.clone()).collect::<Vec<_>>(),
    });
    print(json, &value, |out| {
        if ok {
            return writeln!(out, "all well: {} node(s) checked", healths.len());
        }
        writeln!(out, "{:<22} {:<16} problem", "subject", "check")?;
        for p in &problems {
            writeln!(out, "{:<22} {:<16} {}", p.subject, p.check, p.detail)?;
        }
        Ok(())
    })?;
    if ok {
        Ok(())
    } else {
        anyhow::bail!("{} problem(s) found", problems.len())
    }
}

/// One leader, one term and one version among the nodes that answered.
fn agreement(healths: &[(String, Value)], problems: &mut Vec<Problem>) {
    let distinct = |field: &str| -> BTreeSet<String> {
        healths.iter().map(|(_, h)| h[field].to_string()).collect()
    };
    let listed = |field: &str| -> String {
        let pairs = healths.iter().map(|(n, h)| format!("{n}: {}", h[field]));
        pairs.collect::<Vec<_>>().join(", ")
    };
    for (field, check, what) in [
        ("leader", "leaders_differ", "the nodes name different leaders"),
        ("term", "terms_differ", "the nodes are in different terms"),
        ("version", "versions_differ", "the nodes run different versions"),
    ] {
        if distinct(field).len() > 1 {
            problems.push(problem("cluster", check, format!("{what} ({})", listed(field))));
        }
    }
    if healths.iter().any(|(_, h)| h["leader"].is_null()) {
        let detail = format!("a node knows no leader ({})", listed("leader"));
        problems.push(problem("cluster", "no_leader", detail));
    }
}

/// Every member up, with room above the reserve.
async fn members(client: &Client, reserve_free: f64, problems: &mut Vec<Problem>) {
    let view = match client.get_json("/nodes").await {
        Ok(view) => view,
        Err(e) => {
            return problems.push(problem("cluster", "unreachable", format!("/nodes: {e:#}")))
        }
    };
    for member in view["nodes"].as_array().into_iter().flatten() {
        let name = format!("n{}", member["id"]);
        let health = member["health"].as_str().unwrap_or("unknown");
        if health != "up" {
            problems.push(problem(&name, "member_not_up", format!("its health is {health}")));
        }
        if member["state"] == "draining" {
            problems.push(problem(&name, "draining", "it is being drained".to_owned()));
        }
        match (member["free_bytes"].as_u64(), member["capacity_bytes"].as_u64()) {
            (Some(free), Some(capacity)) if capacity > 0 => {
                let fraction = free as f64 / capacity as f64;
                if fraction < reserve_free {
                    let detail = format!(
                        "{:.1} % of its disk is free (the reserve is {:.1} %)",
                        100.0 * fraction,
                        100.0 * reserve_free
                    );
                    problems.push(problem(&name, "low_space", detail));
                }
            }
            _ => {
                problems.push(problem(&name, "space_unknown", "no disk space reported".to_owned()))
            }
        }
    }
}

/// Nothing under-replicated, nothing failing to repair.
async fn queue(client: &Client, problems: &mut Vec<Problem>) {
    let queue = match client.get_json("/replication-queue?limit=1000").await {
        Ok(queue) => queue,
        Err(e) => {
            let detail = format!("/replication-queue: {e:#}");
            return problems.push(problem("cluster", "unreachable", detail));
        }
    };
    let total = queue["total"].as_u64().unwrap_or(0);
    if total > 0 {
        let detail = format!("{total} chunk copies are queued for re-replication");
        problems.push(problem("cluster", "under_replicated", detail));
    }
    let failing = queue["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| !e["last_error"].is_null())
        .count();
    if failing > 0 {
        let detail = format!("{failing} queued copies failed their last attempt (see dfs queue)");
        problems.push(problem("cluster", "repairs_failing", detail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_skew_is_measured_outside_the_request_window() {
        assert_eq!(skew_ms(1_050, 1_000, 1_100), 0);
        assert_eq!(skew_ms(400, 1_000, 1_100), 600);
        assert_eq!(skew_ms(1_900, 1_000, 1_100), 800);
    }

    #[test]
    fn disagreeing_nodes_are_problems() {
        let node = |leader: Value, term: u64, version: &str| json!({ "leader": leader, "term": term, "version": version });
        let agreeing = [
            ("n1".to_owned(), node(json!(1), 3, "0.1.0")),
            ("n2".to_owned(), node(json!(1), 3, "0.1.0")),
        ];
        let mut problems = Vec::new();
        agreement(&agreeing, &mut problems);
        assert_eq!(problems, Vec::new());
        let split = [
            ("n1".to_owned(), node(json!(1), 3, "0.1.0")),
            ("n2".to_owned(), node(json!(2), 4, "0.2.0")),
        ];
        agreement(&split, &mut problems);
        let checks: Vec<_> = problems.iter().map(|p| p.check).collect();
        assert_eq!(checks, ["leaders_differ", "terms_differ", "versions_differ"]);
        problems.clear();
        agreement(&[("n1".to_owned(), node(Value::Null, 3, "0.1.0"))], &mut problems);
        assert_eq!(problems.iter().map(|p| p.check).collect::<Vec<_>>(), ["no_leader"]);
    }
}
