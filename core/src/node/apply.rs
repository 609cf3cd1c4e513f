//! Applying committed entries (DESIGN §1 core `meta`, `consensus`): commands go to the namespace,
//! membership changes to raft and then the namespace, and the node that took the request answers
//! its client. Also: installing a leader's snapshot and compacting our own log.

use raft::eraftpb::{ConfChangeV2, Entry, EntryType, Snapshot};

use crate::command::{Command, Reply};
use crate::error::CommandError;
use crate::ids::LogIndex;
use crate::meta::Namespace;
use crate::output::{Event, Output};
use crate::proposals::Proposal;

use super::Node;

impl Node {
    pub(super) fn apply_committed(&mut self, entries: Vec<Entry>) {
        for entry in entries {
            if self.halted.is_some() {
                return;
            }
            let index = LogIndex(entry.index);
            match entry.get_entry_type() {
                EntryType::EntryNormal if entry.data.is_empty() => self.namespace.advance(index),
                EntryType::EntryNormal => match Proposal::decode(&entry.data) {
                    Some(proposal) => self.apply_proposal(index, proposal, Ok(())),
                    None => self.skip_unreadable(index),
                },
                EntryType::EntryConfChangeV2 => self.apply_conf_change(index, &entry),
                EntryType::EntryConfChange => self.skip_unreadable(index),
            }
        }
    }

    fn apply_conf_change(&mut self, index: LogIndex, entry: &Entry) {
        let change: Option<ConfChangeV2> = protobuf::Message::parse_from_bytes(&entry.data).ok();
        let (Some(change), Some(proposal)) = (change, Proposal::decode(&entry.context)) else {
            return self.skip_unreadable(index);
        };
        let raft_result = match self.consensus.apply_conf_change(&change) {
            Ok(conf_state) => {
                tracing::info!(
                    node = %self.config.id, index = %index,
                    voters = ?conf_state.voters, learners = ?conf_state.learners,
                    "membership changed"
                );
                if !self.consensus.is_voter() {
                    // A leader removed by a change proposed in an earlier term must not linger.
                    self.hand_off();
                }
                Ok(())
            }
            Err(error) => {
                tracing::warn!(node = %self.config.id, index = %index, %error, "raft refused a membership change");
                Err(CommandError::MembershipRefused)
            }
        };
        self.apply_proposal(index, proposal, raft_result);
    }

    /// Applies one proposal unless raft already refused it; answers the client if it was ours.
    fn apply_proposal(
        &mut self,
        index: LogIndex,
        proposal: Proposal,
        raft: Result<(), CommandError>,
    ) {
        let result = match raft {
            Ok(()) => self.namespace.apply(index, &proposal.command),
            Err(error) => {
                self.namespace.advance(index);
                Err(error)
            }
        };
        log_applied(self.config.id, index, &proposal.command, &result);
        if result.is_ok() {
            self.after_apply(&proposal.command);
        }
        self.outputs.push_back(Output::Event(match &result {
            Ok(change) => Event::Applied { index, change: change.clone() },
            Err(error) => Event::Rejected { index, error: error.clone() },
        }));
        let ours = proposal.origin == self.config.id && proposal.incarnation == self.incarnation;
        if ours && self.pending.remove(proposal.request) {
            let result = result.map(|change| Reply::Applied { index, change });
            self.answer(proposal.request, result);
        }
    }

    /// A committed entry we cannot read (a bug, a newer version's entry, damaged storage): going
    /// on could leave this replica in another state than its peers, which may read it fine. So
    /// the node halts here: it applies nothing more, drives raft no further (to its peers it is
    /// as good as crashed), answers every command and read `Halted`, and reports itself not
    /// ready. A restart replays the same log and halts at the same entry.
    fn skip_unreadable(&mut self, index: LogIndex) {
        tracing::error!(
            node = %self.config.id, index = %index,
            "committed entry does not decode; applying halted (this node serves nothing until it is repaired)"
        );
        self.halted = Some(index);
        self.outputs.push_back(Output::Event(Event::Halted { index }));
        for request in self.reads.take_all() {
            let error = CommandError::Halted { index };
            self.outputs.push_back(Output::Readable { request, result: Err(error) });
        }
        // Every deadline is before the end of time: this takes every waiting command.
        for request in self.pending.expire(crate::time::Instant::from_micros(u64::MAX)) {
            let error = CommandError::Halted { index };
            self.outputs.push_back(Output::Reply { request, result: Err(error) });
        }
    }

    /// The answer of a halted node to any input: commands and reads are refused, the rest
    /// ignored.
    pub(super) fn refuse_halted(&mut self, index: LogIndex, input: crate::input::Input) {
        use crate::input::Input;
        let error = CommandError::Halted { index };
        match input {
            Input::Client { request, .. } => {
                self.outputs.push_back(Output::Reply { request, result: Err(error) })
            }
            Input::Read { request } => {
                self.outputs.push_back(Output::Readable { request, result: Err(error) })
            }
            Input::Recover { request } => {
                let summary = crate::repair::RecoverySummary::default();
                self.outputs.push_back(Output::Recovered { request, summary });
            }
            _ => {}
        }
    }

    /// Replaces the namespace with a leader's snapshot (validated when it arrived).
    pub(super) fn restore_snapshot(&mut self, snapshot: &Snapshot) {
        let index = LogIndex(snapshot.get_metadata().index);
        match Namespace::restore(snapshot.get_data()) {
            Ok(namespace) => {
                tracing::info!(node = %self.config.id, index = %index, "namespace restored from snapshot");
                self.namespace = namespace;
                self.outputs.push_back(Output::Event(Event::SnapshotRestored { index }));
            }
            Err(error) => {
                tracing::error!(node = %self.config.id, index = %index, %error, "snapshot does not restore");
            }
        }
    }

    /// Folds applied entries into a snapshot once more than `log_entries_max` are held, or at
    /// once when raft wanted to send a peer a snapshot the stored one leaves out (a node that
    /// joined after it was taken: it must find itself in the snapshot's membership).
    pub(super) fn maybe_compact(&mut self) {
        let applied = self.namespace.applied_index();
        let held = (applied.0 + 1).saturating_sub(self.consensus.first_index().0);
        let wanted = self.consensus.take_fresh_snapshot_wanted();
        if held <= self.config.log_entries_max && !(wanted && held > 0) {
            return;
        }
        if let Some(snapshot) = self.consensus.compact(applied, self.namespace.snapshot()) {
            tracing::info!(node = %self.config.id, index = %applied, "log compacted");
            self.compacted = Some(snapshot);
            self.outputs.push_back(Output::Event(Event::LogCompacted { index: applied }));
        }
    }
}

fn log_applied(
    node: crate::ids::NodeId,
    index: LogIndex,
    command: &Command,
    result: &Result<crate::command::Change, CommandError>,
) {
    match result {
        Ok(change) => tracing::debug!(node = %node, index = %index, ?change, "command applied"),
        Err(error) => {
            tracing::debug!(node = %node, index = %index, ?command, %error, "command refused")
        }
    }
}
