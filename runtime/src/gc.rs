//! The chunk collector's clock (DESIGN §2 "delete"): every `interval` it asks core for a
//! collection pass (`Input::CollectGarbage`). Core decides what goes: while this node knows a
//! leader and has caught up, it scans the store and starts a delete job for each chunk that
//! nothing needs, neither a kept version, a recent tombstone, nor an upload in progress here
//! (`dfs_core::gc`); the job runner carries the deletes out like any other job. On the leader,
//! each pass also aborts the S3 multipart uploads abandoned for `multipart_expire`
//! (`Namespace::expired_uploads`), so their parts' chunks become garbage in turn.

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
    /// How long an S3 multipart upload nobody completes or aborts is kept.
    pub multipart_expire: Duration,
}

/// Most expired uploads aborted in one pass (the rest wait for the next).
const EXPIRED_PER_PASS_MAX: usize = 100;

/// Asks core for collection passes until shutdown.
pub async fn run(driver: DriverHandle, settings: GcSettings, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(settings.interval) => {}
        }
        expire_uploads(&driver, settings.multipart_expire).await;
        let pass = Input::CollectGarbage { now: now_millis(), grace: settings.grace };
        if driver.send(DriverInput::Core(pass)).await.is_err() {
            return;
        }
    }
}

/// On the leader: proposes the abort of every multipart upload abandoned for `expire`.
async fn expire_uploads(driver: &DriverHandle, expire: Duration) {
    let now = now_millis();
    let Ok(expired) = driver
        .query(move |node| {
            let status = node.status();
            if status.role != dfs_core::Role::Leader {
                return Vec::new();
            }
            status.namespace.expired_uploads(now, expire, EXPIRED_PER_PASS_MAX)
        })
        .await
    else {
        return;
    };
    for (path, upload) in expired {
        let command = dfs_core::Command::AbortMultipartUpload { path: path.clone(), upload };
        match driver.submit(command).await {
            Ok(Ok(_)) => {
                tracing::info!(path = %path, upload = %upload, "expired multipart upload aborted")
            }
            Ok(Err(error)) => {
                tracing::debug!(path = %path, upload = %upload, %error, "expired upload not aborted")
            }
            Err(_) => return,
        }
    }
}
