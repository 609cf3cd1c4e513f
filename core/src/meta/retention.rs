//! Version retention (DESIGN §2 "versions": keep the last K versions and every checkpoint). The
//! setting is replicated state changed by `SetRetention`, so every replica prunes the same
//! versions at the same log index: when a file gets a new version (put or revert), its versions
//! beyond the newest `keep_versions` that no checkpoint names are dropped. Their chunks are then
//! referenced by nothing (unless another kept version shares them) and GC collects them.

use std::collections::BTreeSet;

use super::{FileRecord, Namespace};
use crate::command::Change;
use crate::ids::Version;

impl Namespace {
    /// `SetRetention`: changes how many versions each file keeps from its next write on.
    pub(super) fn set_retention(&mut self, keep_versions: u32) -> Change {
        self.settings.keep_versions = keep_versions;
        Change::RetentionSet { keep_versions }
    }

    /// The cluster-wide settings.
    pub fn settings(&self) -> super::Settings {
        self.settings
    }
}

impl FileRecord {
    /// Drops the versions older than the newest `keep` that no checkpoint names (`keep` 0 keeps
    /// everything). The latest version always stays.
    pub(super) fn prune(&mut self, keep: u32) {
        let keep = usize::try_from(keep).unwrap_or(usize::MAX);
        if keep == 0 || self.versions.len() <= keep {
            return;
        }
        let cut = self.versions.len() - keep;
        let named: BTreeSet<Version> = self.checkpoints.values().copied().collect();
        let mut at = 0;
        self.versions.retain(|record| {
            let kept = at >= cut || named.contains(&record.version);
            at += 1;
            kept
        });
    }
}
