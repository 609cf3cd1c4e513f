//! `dfs`: the one binary operators run (DESIGN.md §2). Subcommands arrive with the issues that
//! build them (`node`, `dev-cluster` and the client commands with the data path).

use clap::Parser;

/// dfs — a replicated distributed file store.
#[derive(Debug, Parser)]
#[command(name = "dfs", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    let _ = dfs_runtime::core::wire::WIRE_VERSION;
}
