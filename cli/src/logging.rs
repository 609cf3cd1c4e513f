//! Log setup (DESIGN §2 "logs"): human lines by default, one JSON object per line with
//! `--log-format json`; level from `RUST_LOG` (default `info` for nodes, `warn` for clients).
//! Lines go to stderr, coloured only when stderr is a terminal, or with `--log-file PATH` to a
//! file rotated by size ([`rotate`]), never coloured. raft's own log lines arrive through the
//! `log` crate and are bridged into tracing.

pub mod rotate;

use std::io::IsTerminal;
use std::path::PathBuf;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// For people.
    #[default]
    Human,
    /// One JSON object per line, for machines.
    Json,
}

/// Where log lines go: the options every command takes.
#[derive(Clone, Debug, clap::Args)]
pub struct LogTarget {
    /// Write log lines to this file instead of stderr, rotated by size (PATH.1 is the previous
    /// file, up to --log-file-keep of them).
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Size at which the log file is rotated, in MiB.
    #[arg(long, global = true, default_value_t = 64, value_name = "MIB")]
    pub log_file_max_mib: u64,
    /// Rotated log files kept besides the current one.
    #[arg(long, global = true, default_value_t = 5, value_name = "N")]
    pub log_file_keep: usize,
}

/// Installs the global subscriber; `default_level` applies unless `RUST_LOG` says otherwise.
/// Fails only if the log file cannot be opened.
pub fn init(format: LogFormat, target: &LogTarget, default_level: &str) -> std::io::Result<()> {
    let _ = tracing_log::LogTracer::init();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match &target.log_file {
        Some(path) => {
            let max_bytes = target.log_file_max_mib.max(1).saturating_mul(1024 * 1024);
            let file = rotate::RotatingFile::open(path.clone(), max_bytes, target.log_file_keep)?;
            let builder = builder.with_ansi(false).with_writer(file);
            match format {
                LogFormat::Human => builder.try_init(),
                LogFormat::Json => builder.json().flatten_event(true).try_init(),
            }
        }
        None => {
            let ansi = std::io::stderr().is_terminal();
            let builder = builder.with_ansi(ansi).with_writer(std::io::stderr);
            match format {
                LogFormat::Human => builder.try_init(),
                LogFormat::Json => builder.json().flatten_event(true).try_init(),
            }
        }
    };
    Ok(())
}
