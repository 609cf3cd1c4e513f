//! Taking linearizable reads (DESIGN §2 "read", docs/consistency.md): admission, one raft
//! ReadIndex round at a time for every read waiting here (`crate::reads`), and the answer once
//! this node has applied the round's read index. A read is never answered `Ok` before then.

use crate::error::CommandError;
use crate::ids::{LogIndex, RequestId};
use crate::output::Output;
use crate::reads;

use super::Node;

impl Node {
    pub(super) fn on_read(&mut self, request: RequestId) {
        if let Some(index) = self.halted {
            return self.answer_read(request, Err(CommandError::Halted { index }));
        }
        if self.is_removed() {
            // Nobody sends it the log any more: it cannot catch up to any read index.
            return self.answer_read(request, Err(CommandError::Removed { node: self.config.id }));
        }
        if self.reads.len() >= self.config.proposals_pending_max {
            let max = self.config.proposals_pending_max;
            return self.answer_read(request, Err(CommandError::Overloaded { max }));
        }
        let deadline = self.now.saturating_add(self.config.proposal_timeout);
        self.reads.push(request, deadline);
    }

    /// Asks raft for a read index if reads wait and no round is in flight (or it is due a retry).
    pub(super) fn start_read_round(&mut self) {
        if self.halted.is_some() {
            return;
        }
        let ticks =
            u32::try_from(self.config.heartbeat_ticks.saturating_mul(2)).unwrap_or(u32::MAX);
        let retry_after = self.config.tick_interval.saturating_mul(ticks.max(1));
        if let Some(number) = self.reads.next_round(self.now, retry_after) {
            let context = reads::context(self.config.id, self.incarnation, number);
            self.consensus.read_index(context);
        }
    }

    /// Raft's answers to our rounds; other contexts (a previous life's rounds) are ignored.
    pub(super) fn on_read_states(&mut self, states: Vec<(Vec<u8>, LogIndex)>) {
        for (context, index) in states {
            match reads::round_of(&context, self.config.id, self.incarnation) {
                Some(number) => self.reads.answered(number, index),
                None => {
                    tracing::debug!(node = %self.config.id, "read state for another round; ignored")
                }
            }
        }
    }

    /// Answers every read whose read index this node has applied.
    pub(super) fn release_reads(&mut self) {
        for (request, index) in self.reads.release(self.namespace.applied_index()) {
            self.answer_read(request, Ok(index));
        }
    }

    /// Answers reads past their deadline: `NoLeader` when no leader is known, else `ReadTimeout`.
    pub(super) fn expire_reads(&mut self) {
        let expired = self.reads.expire(self.now);
        if expired.is_empty() {
            return;
        }
        let error = if self.consensus.leader().is_none() {
            CommandError::NoLeader
        } else {
            CommandError::ReadTimeout
        };
        for request in expired {
            tracing::debug!(node = %self.config.id, %request, "read not confirmed in time");
            self.answer_read(request, Err(error.clone()));
        }
    }

    /// A change of term, role or leader: the round in flight may be lost with the old leader's
    /// state, so its reads are asked again at once.
    pub(super) fn reask_reads(&mut self) {
        self.reads.abandon_round();
    }

    fn answer_read(&mut self, request: RequestId, result: Result<LogIndex, CommandError>) {
        self.outputs.push_back(Output::Readable { request, result });
    }
}
