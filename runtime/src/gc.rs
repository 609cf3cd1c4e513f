//! The chunk collector task (DESIGN §2 "delete"): every `interval`, while this node knows a
//! leader (a partitioned node's namespace may lag), it deletes the stored chunks that
//! `dfs_core::gc` says nothing needs any more.

use std::time::Duration;

use dfs_core::gc;
use tokio_util::sync::CancellationToken;

use crate::driver::DriverHandle;
use crate::http::now_millis;
use crate::store::chunks::ChunkStore;

/// When and what the collector deletes.
#[derive(Clone, Copy, Debug)]
pub struct GcSettings {
    /// Time between passes.
    pub interval: Duration,
    /// How long deleted files' chunks and uncommitted chunks are kept.
    pub grace: Duration,
}

/// Runs collection passes until shutdown.
pub async fn run(
    driver: DriverHandle,
    chunks: ChunkStore,
    settings: GcSettings,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(settings.interval) => {}
        }
        match pass(&driver, &chunks, settings).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "garbage chunks deleted"),
            Err(error) => tracing::warn!(%error, "garbage collection pass failed"),
        }
    }
}

/// One pass; returns how many chunks were deleted.
async fn pass(
    driver: &DriverHandle,
    chunks: &ChunkStore,
    settings: GcSettings,
) -> Result<usize, String> {
    let now = now_millis();
    let grace = settings.grace;
    let referenced = driver
        .query(move |node| {
            let status = node.status();
            status.leader.map(|_| gc::referenced(status.namespace, now, grace))
        })
        .await
        .map_err(|e| e.to_string())?;
    let Some(referenced) = referenced else { return Ok(0) };
    let inventory = chunks.inventory_with_ages().await.map_err(|e| e.to_string())?;
    let mut deleted = 0;
    for chunk in gc::garbage(&referenced, &inventory, grace) {
        match chunks.delete(chunk).await {
            Ok(true) => deleted += 1,
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(chunk = %chunk, %error, "could not delete a garbage chunk")
            }
        }
    }
    Ok(deleted)
}
