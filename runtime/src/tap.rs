//! The simulator's tap on a node's raft log (issue 5, raft safety): every batch of raft writes a
//! node has made durable, so the simulator can check entry by entry that what one node commits
//! at an index is what every node commits there. Only with the `sim-hooks` feature, and even then
//! silent until the simulator installs a watcher; without the feature [`persisted`] compiles
//! away.

use dfs_core::ids::NodeId;
use dfs_core::RaftWrite;

/// Receives a node's durable raft writes, in the order it made them durable.
pub type Watcher = std::rc::Rc<dyn Fn(NodeId, &[RaftWrite])>;

// Per thread: a simulation runs every node on the thread that drives it.
#[cfg(feature = "sim-hooks")]
thread_local! {
    static WATCHER: std::cell::RefCell<Option<Watcher>> = const { std::cell::RefCell::new(None) };
}

/// Installs `watcher` for the nodes this thread runs (or removes it); the simulator's switch.
#[cfg(feature = "sim-hooks")]
pub fn watch(watcher: Option<Watcher>) {
    WATCHER.with(|slot| *slot.borrow_mut() = watcher);
}

/// Reports that `node` made `writes` durable.
#[inline]
pub fn persisted(node: NodeId, writes: &[RaftWrite]) {
    #[cfg(feature = "sim-hooks")]
    {
        let watcher = WATCHER.with(|slot| slot.borrow().clone());
        if let Some(watcher) = watcher {
            watcher(node, writes);
        }
    }
    #[cfg(not(feature = "sim-hooks"))]
    {
        let _ = (node, writes);
    }
}
