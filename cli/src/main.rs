//! `dfs`: the one binary operators run (DESIGN.md §2): `dfs node` runs a member, `dfs
//! dev-cluster` runs a local cluster, and the client commands talk to any node over HTTP.

mod access;
mod bench;
mod client;
mod cluster_cmds;
mod commands;
mod dev_cluster;
mod doctor;
mod edit;
mod explain;
mod fsck;
mod keys;
mod logging;
mod mount;
mod node_cmd;
mod status;
mod sync;
mod transfer;
mod versions;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// dfs — a replicated distributed file store.
#[derive(Debug, Parser)]
#[command(name = "dfs", version, about)]
struct Cli {
    /// A node to talk to (repeat for failover), e.g. http://127.0.0.1:8001.
    #[arg(
        long = "node",
        id = "node_urls",
        global = true,
        env = "DFS_NODES",
        value_delimiter = ','
    )]
    node_urls: Vec<String>,
    /// PEM certificate(s) to trust for https:// nodes (a cluster CA or a self-signed node
    /// certificate) instead of the system's roots.
    #[arg(long, global = true, env = "DFS_CA_CERT")]
    ca_cert: Option<std::path::PathBuf>,
    /// Bearer token (NAME.SECRET) sent with every request; `dfs dev-cluster` prints the admin's,
    /// `dfs user add` makes new ones.
    #[arg(long, global = true, env = "DFS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Log format (on stderr, or in --log-file).
    #[arg(long, global = true, value_enum, default_value_t)]
    log_format: logging::LogFormat,
    #[command(flatten)]
    log_target: logging::LogTarget,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run one cluster member (or, with drain/remove, manage one).
    Node(Box<node_cmd::NodeArgs>),
    /// Run a local cluster of N nodes, each its own process, until Ctrl-C.
    DevCluster(dev_cluster::DevClusterArgs),
    /// Measure a local 3-node cluster against disk baselines from the same run.
    Bench(bench::BenchArgs),
    /// Show every node's role, term, leader and readiness, every member's health and usage, and
    /// the replication queue.
    Status {
        /// Refresh every SECS seconds (default 2) until Ctrl-C.
        #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2")]
        watch: Option<f64>,
    },
    /// Say why a file or a node is not converged: missing or stale copies, what the replication
    /// queue is doing about each, and what blocks it.
    Explain {
        /// A file path (/photos/cat.jpg) or a node id (3 or n3).
        target: String,
    },
    /// Show the replication queue: under-replicated chunks, their files, source, target, state.
    Queue {
        /// Most entries listed.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Run a recovery sync on NODE: pull what it lacks, drop what it should not have.
    Recover {
        /// The node id.
        node: u64,
    },
    /// Create a folder (and missing parents).
    Mkdir {
        /// The folder, e.g. /photos/2026.
        path: String,
        /// Who owns the new folders (admins only; default: you), e.g. a user's home folder.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Manage users and their tokens (admins only).
    User {
        #[command(subcommand)]
        action: access::UserAction,
    },
    /// Create, list or remove S3 access keys (each acts as a dfs user).
    Key {
        #[command(subcommand)]
        action: keys::KeyAction,
    },
    /// Show, grant or revoke read/write access to files and folders.
    Acl {
        #[command(subcommand)]
        action: access::AclAction,
    },
    /// Show the user your token proves.
    Whoami,
    /// List a folder (fetched a page at a time).
    Ls {
        /// The folder (default: /).
        #[arg(default_value = "/")]
        path: String,
        /// Entries fetched per request (the node allows at most 10,000).
        #[arg(long, default_value_t = 1000)]
        page_size: usize,
        /// Read the answering node's replica as it is, without confirming with the leader:
        /// faster, but may miss the latest writes (reads are linearizable by default).
        #[arg(long)]
        stale: bool,
    },
    /// Delete a file (tombstone) or an empty folder; with -r, a folder and everything under it.
    Rm {
        /// The file or folder.
        path: String,
        /// Delete a folder with every file and folder under it (asks first; see --yes).
        #[arg(short = 'r', long)]
        recursive: bool,
        /// Do not ask before a recursive delete (needed when stdin is not a terminal).
        #[arg(short = 'y', long, requires = "recursive")]
        yes: bool,
    },
    /// Move or rename a file (with its history) or a folder (with everything under it).
    Mv {
        /// The file or folder.
        from: String,
        /// Its new path; must not exist. Missing parent folders are created.
        to: String,
    },
    /// Upload a local file as a new version of PATH.
    Put {
        /// The local file.
        local: std::path::PathBuf,
        /// Where it goes in the cluster, e.g. /photos/cat.jpg.
        path: String,
        /// Only if PATH's latest version is this (no silent overwrite of a newer edit).
        #[arg(long, conflicts_with = "if_absent")]
        if_version: Option<u64>,
        /// Only if nothing is at PATH yet.
        #[arg(long)]
        if_absent: bool,
    },
    /// Download PATH (the latest version, --version N or --checkpoint NAME) to LOCAL (`-` for
    /// stdout).
    Get {
        /// The file in the cluster.
        path: String,
        /// Where to write it (default: its name in the current folder).
        local: Option<std::path::PathBuf>,
        /// A specific version.
        #[arg(long, conflicts_with = "checkpoint")]
        version: Option<u64>,
        /// The version a checkpoint names.
        #[arg(long)]
        checkpoint: Option<String>,
        /// Read the answering node's replica as it is, without confirming with the leader:
        /// faster, but may miss the latest writes (reads are linearizable by default).
        #[arg(long)]
        stale: bool,
    },
    /// Edit PATH in $EDITOR and upload it only if nobody changed it meanwhile.
    Edit {
        /// The file in the cluster (created if absent).
        path: String,
    },
    /// List a file's kept versions: size, hash, author, time, checkpoints.
    History {
        /// The file.
        path: String,
    },
    /// Name a version of PATH (the latest, or --version N); retention never drops it.
    Checkpoint {
        /// The file.
        path: String,
        /// The checkpoint's name (unique per file; no `/`).
        name: String,
        /// The version to name (default: the latest).
        #[arg(long)]
        version: Option<u64>,
    },
    /// Make version N's content the newest version of PATH (a new version number).
    Revert {
        /// The file.
        path: String,
        /// The version to bring back.
        version: u64,
    },
    /// Show or set how many versions of each file the cluster keeps.
    Retention {
        #[command(subcommand)]
        action: versions::RetentionAction,
    },
    /// Show a file's versions, sizes, hashes and where each chunk's copies are.
    Stat {
        /// The file or folder.
        path: String,
        /// Read the answering node's replica as it is, without confirming with the leader:
        /// faster, but may miss the latest writes (reads are linearizable by default).
        #[arg(long)]
        stale: bool,
    },
    /// Push a local folder's changes into the cluster as they happen (creates, edits, renames,
    /// deletes; only changed chunks are sent) until Ctrl-C.
    Watch(sync::watch::WatchArgs),
    /// Keep a local folder equal to a cluster folder, from the change feed, until Ctrl-C;
    /// resumes where it stopped.
    Mirror(sync::mirror::MirrorArgs),
    /// Push (or, with --discard, forget) the local deletions `dfs watch` held back as a mass
    /// deletion.
    SyncConfirm {
        /// The watched folder.
        dir: std::path::PathBuf,
        /// Forget the held deletions instead: the files stay in the cluster.
        #[arg(long)]
        discard: bool,
    },
    /// Check the cluster before a change: every node ready, one leader and term, one version,
    /// clocks close, every member up with free space above the reserve, nothing queued or
    /// failing; exit 1 with a table of problems otherwise.
    Doctor {
        /// Least free fraction of each member's disk that passes.
        #[arg(long, default_value_t = doctor::FREE_RESERVE, value_name = "FRACTION")]
        reserve_free: f64,
    },
    /// Mount the cluster (or --remote FOLDER) on a local folder (FUSE) until Ctrl-C or
    /// `dfs umount`; close-to-open consistency (docs/mount.md).
    Mount(mount::MountArgs),
    /// Unmount a `dfs mount`.
    Umount {
        /// The mount point.
        mountpoint: std::path::PathBuf,
    },
    /// Check that every chunk of every live file version has replication_factor good copies
    /// (re-hashed on the nodes holding them); exit code 2 if anything needs repair.
    Fsck {
        /// Only check that each copy exists (fast; does not find corrupt copies).
        #[arg(long)]
        no_verify: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let running_node = matches!(&cli.command, Cmd::Node(args) if args.action.is_none());
    let serving =
        running_node || matches!(cli.command, Cmd::DevCluster(_) | Cmd::Bench(_) | Cmd::Mount(_));
    if let Err(error) =
        logging::init(cli.log_format, &cli.log_target, if serving { "info" } else { "warn" })
    {
        let path = cli.log_target.log_file.as_deref().unwrap_or(std::path::Path::new(""));
        eprintln!("dfs: cannot open the log file {}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("dfs: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let json = cli.json;
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let status = if error.downcast_ref::<fsck::ProblemsFound>().is_some() {
                fsck::PROBLEMS_EXIT_CODE
            } else {
                1
            };
            if json {
                eprintln!("{}", json_failure(&error, status));
            } else {
                eprintln!("dfs: {error:#}");
            }
            ExitCode::from(status)
        }
    }
}

/// A failure as `--json` prints it on stderr: one object, `{"error": {"code", "message",
/// "exit_status"}}`, plus the HTTP `status` when a node refused the request. The code is the
/// node's (e.g. `not_found`), `problems_found` for fsck, else `failed`.
fn json_failure(error: &anyhow::Error, exit_status: u8) -> serde_json::Value {
    let api = error.chain().find_map(|cause| cause.downcast_ref::<client::ApiFailure>());
    let code = match api {
        Some(failure) => failure.code.clone(),
        None if exit_status == fsck::PROBLEMS_EXIT_CODE => "problems_found".to_owned(),
        None => "failed".to_owned(),
    };
    let mut object = serde_json::json!({
        "code": code,
        "message": format!("{error:#}"),
        "exit_status": exit_status,
    });
    if let Some(failure) = api {
        object["status"] = failure.status.into();
    }
    serde_json::json!({ "error": object })
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let urls: Vec<String> =
        cli.node_urls.iter().filter(|u| !u.trim().is_empty()).cloned().collect();
    let ca_cert = cli.ca_cert.clone();
    let token = cli.token.clone();
    let client = || client::Client::new(urls.clone(), ca_cert.as_deref(), token.as_deref());
    match cli.command {
        Cmd::Node(mut args) => match args.action.take() {
            Some(node_cmd::NodeAction::Drain { id, wait }) => {
                cluster_cmds::drain(&client()?, id, wait, cli.json).await
            }
            Some(node_cmd::NodeAction::Add { id, learner, addr }) => {
                cluster_cmds::add(&client()?, id, learner, addr, cli.json).await
            }
            Some(node_cmd::NodeAction::Remove { id }) => {
                cluster_cmds::remove(&client()?, id, cli.json).await
            }
            None => node_cmd::run(*args).await,
        },
        Cmd::Queue { limit } => cluster_cmds::queue(&client()?, limit, cli.json).await,
        Cmd::Recover { node } => cluster_cmds::recover(&client()?, node, cli.json).await,
        Cmd::DevCluster(args) => dev_cluster::run(args, cli.json).await,
        Cmd::Bench(args) => bench::run(args, cli.json).await,
        Cmd::Status { watch } => status::status(&client()?, watch, cli.json).await,
        Cmd::Explain { ref target } => explain::explain(&client()?, target, cli.json).await,
        Cmd::Mkdir { ref path, ref owner } => {
            commands::mkdir(&client()?, path, owner.as_deref(), cli.json).await
        }
        Cmd::User { action } => access::user(&client()?, action, cli.json).await,
        Cmd::Acl { action } => access::acl(&client()?, action, cli.json).await,
        Cmd::Key { action } => keys::key(&client()?, action, cli.json).await,
        Cmd::Whoami => access::whoami(&client()?, cli.json).await,
        Cmd::Ls { ref path, page_size, stale } => {
            commands::ls(&client()?, path, page_size, stale, cli.json).await
        }
        Cmd::Rm { ref path, recursive, yes } => {
            commands::rm(&client()?, path, recursive, yes, cli.json).await
        }
        Cmd::Mv { ref from, ref to } => commands::mv(&client()?, from, to, cli.json).await,
        Cmd::Edit { ref path } => edit::edit(&client()?, path, cli.json).await,
        Cmd::History { ref path } => versions::history(&client()?, path, cli.json).await,
        Cmd::Checkpoint { ref path, ref name, version } => {
            versions::checkpoint(&client()?, path, name, version, cli.json).await
        }
        Cmd::Revert { ref path, version } => {
            versions::revert(&client()?, path, version, cli.json).await
        }
        Cmd::Retention { action } => versions::retention(&client()?, action, cli.json).await,
        Cmd::Put { ref local, ref path, if_version, if_absent } => {
            let options = transfer::PutOptions { if_version, if_absent };
            transfer::put(&client()?, local, path, options, cli.json).await
        }
        Cmd::Get { ref path, ref local, version, ref checkpoint, stale } => {
            let name = path.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("download");
            let local = local.clone().unwrap_or_else(|| name.into());
            let which = match (version, checkpoint) {
                (Some(v), _) => transfer::Which::Version(v),
                (None, Some(name)) => transfer::Which::Checkpoint(name.clone()),
                (None, None) => transfer::Which::Latest,
            };
            transfer::get(&client()?, path, &local, &which, stale, cli.json).await
        }
        Cmd::Stat { ref path, stale } => transfer::stat(&client()?, path, stale, cli.json).await,
        Cmd::Watch(args) => sync::watch::run(client()?, args, cli.json).await,
        Cmd::Mirror(args) => sync::mirror::run(client()?, args, cli.json).await,
        Cmd::SyncConfirm { ref dir, discard } => {
            sync::guard::confirm(&client()?, dir, discard, cli.json).await
        }
        Cmd::Doctor { reserve_free } => doctor::doctor(&client()?, reserve_free, cli.json).await,
        Cmd::Mount(args) => mount::run(client()?, args).await,
        Cmd::Umount { ref mountpoint } => mount::umount(mountpoint),
        Cmd::Fsck { no_verify } => fsck::fsck(&client()?, !no_verify, cli.json).await,
    }
}
