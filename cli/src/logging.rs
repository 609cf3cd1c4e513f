//! Log setup (DESIGN §2 "logs"): human lines by default, one JSON object per line with
//! `--log-format json`; level from `RUST_LOG` (default `info` for nodes, `warn` for clients). raft's own log lines arrive
//! through the `log` crate and are bridged into tracing.

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

/// Installs the global subscriber, writing to stderr; `default_level` applies unless `RUST_LOG`
/// says otherwise.
pub fn init(format: LogFormat, default_level: &str) {
    let _ = tracing_log::LogTracer::init();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
