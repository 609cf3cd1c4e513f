//! What `dfs bench heal` prints for a person: the report as tables, CPU lines and the
//! leader's timeline (`--json` prints the report itself).

use std::io::Write;

use serde_json::Value;

pub(super) fn print_table(out: &mut dyn Write, r: &Value) -> std::io::Result<()> {
    let (base, machine) = (&r["baseline"], &r["machine"]);
    writeln!(
        out,
        "baseline: disk sequential fsync'd write {:.0} MB/s ({} MiB); load average {} before, {} after ({} cpus)",
        num(&base["disk_write_mb_per_s"]), base["disk_write_mib"],
        machine["load_average_before"].as_str().unwrap_or("?"),
        machine["load_average_after"].as_str().unwrap_or("?"), machine["cpus"]
    )?;
    if r["recovery"].is_object() {
        print_recovery(out, &r["recovery"])?;
    }
    if r["rereplication"].is_object() {
        print_rereplication(out, &r["rereplication"])?;
    }
    if let Some(dir) = r["kept_dir"].as_str() {
        writeln!(out, "\ndata dirs and node logs kept in {dir}")?;
    }
    Ok(())
}

fn print_recovery(out: &mut dyn Write, r: &Value) -> std::io::Result<()> {
    writeln!(
        out,
        "\nrecovery sync: 3 nodes, RF 3, default [healing] but repair limit {:.0} MiB/s; n{} killed, {:.0} MB in {} files written through the others in {:.1} s, n{} restarted",
        num(&r["healing"]["repair_bytes_per_sec"]) / f64::from(1 << 20), r["node"],
        num(&r["written_bytes"]) / 1e6, r["files"], num(&r["write_s"]), r["node"]
    )?;
    writeln!(
        out,
        "  catching up started     {:>6.0} ms   {:.2} x target (1000 ms)\n  holds everything again  {:>6.0} ms   (last chunk file landed at {:.0} ms)",
        num(&r["catch_up_start_ms"]), num(&r["catch_up_start_ratio_to_target"]),
        num(&r["holds_everything_ms"]), num(&r["last_chunk_file_ms"])
    )?;
    writeln!(
        out,
        "  received {:.0} MB in {} chunks: {:.1} MB/s   {:.2} x disk   target 0.50 x",
        num(&r["bytes_received"]) / 1e6,
        r["chunks_received"],
        num(&r["mb_per_s"]),
        num(&r["ratio_to_disk"])
    )?;
    writeln!(out, "  ms after the restart: {}", timeline(&r["events_ms"]))?;
    writeln!(out, "  {}", cpu_line(&r["cpu"]))
}

fn print_rereplication(out: &mut dyn Write, r: &Value) -> std::io::Result<()> {
    let h = &r["healing"];
    writeln!(
        out,
        "\nre-replication: 4 nodes, RF 3; heartbeat {} ms, suspect {} ms, down {} s, reassign_after {} s, rebalance {}, repair limit {:.0} MiB/s",
        h["heartbeat_interval_ms"], h["suspect_after_ms"], h["down_after_secs"],
        h["reassign_after_secs"], if h["rebalance_tolerance_pct"] == 0 { "off" } else { "on" },
        num(&h["repair_bytes_per_sec"]) / f64::from(1 << 20)
    )?;
    writeln!(
        out,
        "  {:.0} MB written; n{} killed holding {:.0} MB in {} chunks",
        num(&r["written_bytes"]) / 1e6,
        r["node"],
        num(&r["held_bytes"]) / 1e6,
        r["held_chunks"]
    )?;
    writeln!(
        out,
        "  every chunk at 3 copies {:>6.0} ms after the kill; minus reassign_after {:.0} ms; after lost was seen {:.0} ms",
        num(&r["all_copies_back_ms"]), num(&r["minus_reassign_after_ms"]), num(&r["after_lost_seen_ms"])
    )?;
    writeln!(
        out,
        "  copy throughput {:.1} MB/s (held bytes / (total - reassign_after))   {:.2} x disk; {:.1} MB/s after lost was seen",
        num(&r["copy_mb_per_s"]), num(&r["ratio_to_disk"]), num(&r["copy_mb_per_s_after_lost_seen"])
    )?;
    writeln!(out, "  ms after the kill: {}", timeline(&r["events_ms"]))?;
    writeln!(out, "  {}", cpu_line(&r["cpu"]))
}

/// `cpu` as one line: machine busy and iowait, then each node's CPU seconds.
fn cpu_line(cpu: &Value) -> String {
    let nodes = cpu["node_cpu_s"].as_object().into_iter().flatten();
    let each: Vec<String> = nodes.map(|(n, s)| format!("{n} {:.1} s", num(s))).collect();
    format!(
        "over those {:.1} s: machine CPU {:.0} % busy, {:.0} % iowait; node CPU {}",
        num(&cpu["seconds"]),
        num(&cpu["machine_busy_pct"]),
        num(&cpu["machine_iowait_pct"]),
        each.join(", ")
    )
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// `events_ms` as `name +ms, ...`.
fn timeline(events: &Value) -> String {
    let list = events.as_array().into_iter().flatten();
    let each = list
        .map(|e| format!("{} {:.0}", e[0].as_str().unwrap_or("?"), e[1].as_f64().unwrap_or(0.0)));
    each.collect::<Vec<_>>().join(", ")
}
