//! `dfs fsck [--no-verify]`: asks one node (failing over) to check that every chunk of every live
//! version has `replication_factor` good copies, prints the summary and each problem, and fails
//! with [`ProblemsFound`] (exit code [`PROBLEMS_EXIT_CODE`]) when anything needs repair.

use std::io::Write;

use serde_json::Value;

use crate::client::Client;

/// Exit code when fsck ran and found problems (1 means it could not run).
pub const PROBLEMS_EXIT_CODE: u8 = 2;

/// fsck ran and found chunks that need repair.
#[derive(Debug, thiserror::Error)]
#[error("fsck found {total} problem chunk(s)")]
pub struct ProblemsFound {
    /// How many.
    pub total: u64,
}

/// `dfs fsck`.
pub async fn fsck(client: &Client, verify: bool, json: bool) -> anyhow::Result<()> {
    let route = if verify { "/fsck" } else { "/fsck?verify=false" };
    let report = client.get_json(route).await?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{report}")?;
    } else {
        print_report(&mut out, &report)?;
    }
    if report["ok"].as_bool() == Some(true) {
        return Ok(());
    }
    Err(ProblemsFound { total: report["problems_total"].as_u64().unwrap_or(0) }.into())
}

fn print_report(out: &mut dyn Write, report: &Value) -> std::io::Result<()> {
    let how = if report["verify"] == true { "re-hashed every copy" } else { "existence only" };
    writeln!(
        out,
        "checked by n{} ({how}): {} files, {} versions, {} chunks, replication factor {}",
        report["checked_by"],
        report["files"],
        report["versions"],
        report["chunks"],
        report["replication_factor"]
    )?;
    let asked: Vec<String> =
        report["nodes_asked"].as_array().into_iter().flatten().map(|n| format!("n{n}")).collect();
    writeln!(out, "nodes asked: {}", asked.join(" "))?;
    for (node, why) in report["nodes_unreachable"].as_object().into_iter().flatten() {
        writeln!(out, "  n{node} unreachable: {}", why.as_str().unwrap_or("?"))?;
    }
    for problem in report["problems"].as_array().into_iter().flatten() {
        let copies: Vec<String> = problem["copies"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(node, state)| format!("n{node} {}", state.as_str().unwrap_or("?")))
            .collect();
        let paths: Vec<&str> =
            problem["paths"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        writeln!(
            out,
            "chunk {}  {}/{} good copies  [{}]  {}",
            problem["chunk"].as_str().unwrap_or("?"),
            problem["verified_copies"],
            report["replication_factor"],
            copies.join(", "),
            paths.join(" ")
        )?;
    }
    let total = report["problems_total"].as_u64().unwrap_or(0);
    let shown = report["problems"].as_array().map_or(0, Vec::len) as u64;
    if shown < total {
        writeln!(out, "... and {} more problem chunk(s) not listed", total - shown)?;
    }
    if report["ok"] == true {
        writeln!(out, "clean: every chunk has {} good copies", report["replication_factor"])
    } else {
        writeln!(
            out,
            "NOT CLEAN: {total} problem chunk(s): {} under-replicated ({} with no good copy), {} bad copies",
            report["under_replicated"], report["lost"], report["bad_copies"]
        )
    }
}
