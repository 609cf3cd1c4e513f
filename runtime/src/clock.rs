//! The driver's clock: tokio's (virtual under turmoil, unlike std's) time since the node started,
//! as the core's [`Instant`].

use dfs_core::Instant;

/// Converts between tokio time and core time for one node.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: tokio::time::Instant,
}

impl Clock {
    /// A clock whose epoch is now.
    pub fn start() -> Self {
        Self { epoch: tokio::time::Instant::now() }
    }

    /// Now, as core time.
    pub fn now(&self) -> Instant {
        let micros = self.epoch.elapsed().as_micros();
        Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// A core instant as a tokio instant to sleep until.
    pub fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        self.epoch + std::time::Duration::from_micros(at.as_micros())
    }
}
