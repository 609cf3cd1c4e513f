//! Freezing and resuming a test cluster's node processes (SIGSTOP / SIGCONT).

use std::process::{Child, Command};

use crate::TestCluster;

impl TestCluster {
    /// Freezes node `id`'s process (SIGSTOP): it holds its sockets but answers nothing, and its
    /// replica falls behind until [`TestCluster::resume`].
    pub fn pause(&self, id: u64) {
        self.signal(id, "-STOP");
    }

    /// Lets a node frozen by [`TestCluster::pause`] run again (SIGCONT).
    pub fn resume(&self, id: u64) {
        self.signal(id, "-CONT");
    }

    fn signal(&self, id: u64, signal: &str) {
        let pid = self.node(id).child.as_ref().map(Child::id).expect("the node runs");
        let sent =
            Command::new("kill").args([signal, &pid.to_string()]).status().expect("kill runs");
        assert!(sent.success(), "kill {signal} {pid} failed");
    }
}
