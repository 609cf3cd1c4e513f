//! The chunk collector's clock (DESIGN §2 "delete"): every `interval` it asks core for a
//! collection pass (`Input::CollectGarbage`). Core decides what goes: while this node knows a
//! leader and has caught up, it scans the store and starts a delete job for each chunk that
//! nothing needs, neither a kept version, a recent tombstone, nor an upload in progress here
//! (`dfs_core::gc`); the job runner carries the deletes out like any other job.

use std::time::Duration;

use dfs_core::Input;
use tokio_util::sync::CancellationToken;

use crate::driver::{DriverHandle, DriverInput};
use crate::wall::now_millis;

/// When and what the collector deletes.
#[derive(Clone, Copy, Debug)]
pub struct GcSettings {
    /// Time between passes.
    pub interval: Duration,
    /// How long deleted files' chunks and uncommitted chunks are kept.
    pub grace: Duration,
}

/// Asks core for collection passes until shutdown.
pub async fn run(driver: DriverHandle, settings: GcSettings, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(settings.interval) => {}
        }
        let pass = Input::CollectGarbage { now: now_millis(), grace: settings.grace };
        if driver.send(DriverInput::Core(pass)).await.is_err() {
            return;
        }
    }
}
