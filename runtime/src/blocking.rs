//! Where blocking disk work runs (DESIGN §1 runtime: disk behind small traits). In production
//! it goes to tokio's blocking pool so a slow disk never stalls the tasks serving requests; in
//! the simulation it must stay on the simulated host's own thread, because another thread would
//! neither see that host's simulated file system nor let simulated time advance while it works.

/// The disk work's task panicked or was cancelled.
#[derive(Debug, thiserror::Error)]
#[error("blocking disk task panicked or was cancelled")]
pub struct TaskFailed;

/// How a store runs its blocking calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Blocking {
    /// On tokio's blocking pool (production).
    #[default]
    Pool,
    /// Right here, on the calling task (the simulation's file system).
    Inline,
}

impl Blocking {
    /// Runs `work` as this mode says and returns its result.
    pub async fn run<T, F>(self, work: F) -> Result<T, TaskFailed>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        match self {
            Self::Pool => tokio::task::spawn_blocking(work).await.map_err(|_| TaskFailed),
            Self::Inline => Ok(work()),
        }
    }
}
