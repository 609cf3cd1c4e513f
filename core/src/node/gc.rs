//! Wiring the collector (DESIGN §2 "delete", [`crate::gc`]) into the node: on
//! `Input::CollectGarbage` a node that knows a leader and has caught up scans its store; what
//! nothing needs (no kept version, no recent tombstone, no open upload here) and is older than
//! the grace period is deleted by delete jobs, so every deletion is a core decision in the trace.

use std::time::Duration;

use crate::ids::{JobId, UnixMillis};
use crate::input::{JobFault, JobReport};
use crate::output::{Event, JobSpec, Output};

use super::Node;

impl Node {
    pub(super) fn on_collect(&mut self, now: UnixMillis, grace: Duration) {
        // A partitioned or lagging node's namespace may miss recent writes: it keeps everything.
        if self.gc_scan.is_some() || self.consensus.leader().is_none() || !self.caught_up() {
            return;
        }
        let job = self.take_job();
        self.gc_scan = Some((job, now, grace));
        self.start_job(job, JobSpec::ScanInventory);
    }

    pub(super) fn gc_owns(&self, job: JobId) -> bool {
        self.gc_scan.is_some_and(|(scan, _, _)| scan == job)
    }

    pub(super) fn gc_job_done(&mut self, job: JobId, result: Result<JobReport, JobFault>) {
        let Some((_, now, grace)) = self.gc_scan.take() else { return };
        let Ok(JobReport::Inventory { chunks }) = result else {
            tracing::warn!(node = %self.config.id, %job, ?result, "collector's scan failed");
            return;
        };
        if self.consensus.leader().is_none() || !self.caught_up() {
            return;
        }
        let mut referenced = crate::gc::referenced(&self.namespace, now, grace);
        referenced.extend(self.uploads.referenced());
        let garbage = crate::gc::garbage(&referenced, &chunks, grace);
        if garbage.is_empty() {
            return;
        }
        tracing::info!(node = %self.config.id, chunks = garbage.len(), "garbage chunks to delete");
        self.outputs.push_back(Output::Event(Event::GarbageFound { chunks: garbage.len() }));
        for chunk in garbage {
            let job = self.take_job();
            self.start_job(job, JobSpec::DeleteChunk { chunk });
        }
    }
}
