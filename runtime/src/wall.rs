//! Wall-clock time for what the cluster records (version timestamps, event times). Real time in
//! production; the simulation installs its own source once per process, so simulated runs stamp
//! simulated time and replay identically.

use std::sync::OnceLock;
use std::time::Duration;

use dfs_core::ids::UnixMillis;

/// A wall-clock source: time since the Unix epoch, or `None` to fall back to the system clock.
pub type Source = fn() -> Option<Duration>;

static SOURCE: OnceLock<Source> = OnceLock::new();

/// Makes `source` this process's wall clock (the simulation's); only the first call counts.
pub fn install(source: Source) {
    let _ = SOURCE.set(source);
}

/// Wall-clock milliseconds now.
pub fn now_millis() -> UnixMillis {
    let since = SOURCE.get().and_then(|source| source()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default()
    });
    UnixMillis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}
