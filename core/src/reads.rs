//! Linearizable reads (DESIGN §2 "read", docs/consistency.md): raft's ReadIndex, batched. A read
//! that arrives waits for the next *round*; a round asks raft once (`read_index`, Safe mode: the
//! leader confirms with a quorum of heartbeats that it still leads, a follower forwards the ask to
//! the leader) and learns the leader's commit index at that moment. Every read of the round may
//! then be served from this node's replica as soon as it has applied that index: it sees every
//! write acknowledged before the read arrived, on any node.
//!
//! Rules:
//! - At most one round is in flight per node; reads that arrive meanwhile form the next round, so
//!   one raft round serves every read waiting on the node, and a round never answers a read that
//!   arrived after the round was asked (its index could predate that read's writes).
//! - A round not answered by its retry instant (a lost message, a leader that has not committed
//!   in its term yet, no leader at all, a slow link) is asked again under a new number. A late
//!   answer to an abandoned round still serves every read that arrived before that round was
//!   asked (so a link slower than the retry interval cannot starve reads), and only those. A
//!   change of term, role or leader re-asks at once.
//! - Every read has a deadline; past it the read is answered with an error, never served.
//! - A round's context names the node, its incarnation and the round number, so the leader never
//!   mixes up two nodes' rounds, nor a restarted node's rounds with its previous life's.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{LogIndex, NodeId, RequestId};
use crate::time::Instant;

/// The bytes a round's context takes: node id, incarnation, round number.
const CONTEXT_BYTES: usize = 24;

/// Reads waiting on this node, from arrival until they may be served.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    next_round: u64,
    // Arrived since the current round was asked, oldest first.
    queued: Vec<RequestId>,
    round: Option<Round>,
    // Reads whose read index is known, waiting for this node to apply it.
    ready: BTreeSet<(LogIndex, RequestId)>,
    // INVARIANT: every read still unanswered, wherever it waits, is here and in `by_deadline`;
    // `queued`, `round` and `ready` may still name answered (expired) reads, which are skipped.
    deadlines: BTreeMap<RequestId, Instant>,
    // The first round asked after each read arrived: the answer to that round or any later one
    // may serve it.
    first_round: BTreeMap<RequestId, u64>,
    by_deadline: BTreeSet<(Instant, RequestId)>,
}

#[derive(Debug)]
struct Round {
    reads: Vec<RequestId>,
    retry_at: Instant,
}

/// The raft context naming round `number` of node `id` in `incarnation`.
pub(crate) fn context(id: NodeId, incarnation: u64, number: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(CONTEXT_BYTES);
    bytes.extend_from_slice(&id.0.to_be_bytes());
    bytes.extend_from_slice(&incarnation.to_be_bytes());
    bytes.extend_from_slice(&number.to_be_bytes());
    bytes
}

/// The round number in `context` if it names a round of node `id` in `incarnation`.
pub(crate) fn round_of(context: &[u8], id: NodeId, incarnation: u64) -> Option<u64> {
    if context.len() != CONTEXT_BYTES {
        return None;
    }
    let word = |i: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&context[i * 8..i * 8 + 8]);
        u64::from_be_bytes(bytes)
    };
    (word(0) == id.0 && word(1) == incarnation).then(|| word(2))
}

impl Reads {
    /// How many rounds were asked so far (each a raft ReadIndex round).
    #[cfg(test)]
    pub(crate) fn rounds_asked(&self) -> u64 {
        self.next_round
    }

    /// How many reads wait.
    pub(crate) fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Starts waiting for `request` until `deadline`; it joins the next round.
    pub(crate) fn push(&mut self, request: RequestId, deadline: Instant) {
        let previous = self.deadlines.insert(request, deadline);
        assert!(previous.is_none(), "driver reused request number {request} while it was pending");
        self.by_deadline.insert((deadline, request));
        self.queued.push(request);
    }

    /// If no round is in flight (or the one in flight is due a retry) and reads wait for one:
    /// makes the next round, retried at `now + retry_after`, and returns its number to ask raft.
    pub(crate) fn next_round(
        &mut self,
        now: Instant,
        retry_after: std::time::Duration,
    ) -> Option<u64> {
        if self.round.as_ref().is_some_and(|round| round.retry_at <= now) {
            self.abandon_round();
        }
        if self.round.is_some() {
            return None;
        }
        let deadlines = &self.deadlines;
        let reads: Vec<RequestId> = std::mem::take(&mut self.queued)
            .into_iter()
            .filter(|r| deadlines.contains_key(r))
            .collect();
        if reads.is_empty() {
            return None;
        }
        self.next_round += 1;
        let number = self.next_round;
        for &request in &reads {
            self.first_round.entry(request).or_insert(number);
        }
        self.round = Some(Round { reads, retry_at: now.saturating_add(retry_after) });
        Some(number)
    }

    /// Gives up on the round in flight (its answer may never come): its reads join the next one.
    pub(crate) fn abandon_round(&mut self) {
        if let Some(round) = self.round.take() {
            let mut reads = round.reads;
            reads.append(&mut self.queued);
            self.queued = reads;
        }
    }

    /// Raft answered round `number` with read index `index`: it serves every waiting read that
    /// arrived before that round was asked (the current round's, or those of an abandoned one).
    pub(crate) fn answered(&mut self, number: u64, index: LogIndex) {
        let covered = |request: &RequestId, first: &BTreeMap<RequestId, u64>| {
            first.get(request).is_some_and(|&asked| asked <= number)
        };
        let mut served = Vec::new();
        if let Some(round) = &mut self.round {
            let (now, later): (Vec<_>, Vec<_>) =
                round.reads.drain(..).partition(|r| covered(r, &self.first_round));
            served.extend(now);
            round.reads = later;
        }
        if self.round.as_ref().is_some_and(|round| round.reads.is_empty()) {
            self.round = None;
        }
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.queued)
            .into_iter()
            .partition(|r| covered(r, &self.first_round));
        served.extend(now);
        self.queued = later;
        for request in served {
            self.first_round.remove(&request);
            if self.deadlines.contains_key(&request) {
                self.ready.insert((index, request));
            }
        }
    }

    /// The reads that may be served now that `applied` is applied, with their read index.
    pub(crate) fn release(&mut self, applied: LogIndex) -> Vec<(RequestId, LogIndex)> {
        let mut released = Vec::new();
        while let Some(&(index, request)) = self.ready.first() {
            if index > applied {
                break;
            }
            self.ready.pop_first();
            if let Some(deadline) = self.deadlines.remove(&request) {
                self.by_deadline.remove(&(deadline, request));
                self.first_round.remove(&request);
                released.push((request, index));
            }
        }
        released
    }

    /// The reads whose deadline is past; they stop waiting.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<RequestId> {
        let mut expired = Vec::new();
        while let Some(&(deadline, request)) = self.by_deadline.first() {
            if deadline > now {
                break;
            }
            self.by_deadline.pop_first();
            self.deadlines.remove(&request);
            self.first_round.remove(&request);
            expired.push(request);
        }
        expired
    }

    /// Every waiting read; they stop waiting (the node can serve none of them).
    pub(crate) fn take_all(&mut self) -> Vec<RequestId> {
        let all: Vec<RequestId> = self.deadlines.keys().copied().collect();
        *self = Self { next_round: self.next_round, ..Self::default() };
        all
    }

    /// The earliest instant something is due: a read's deadline or the round's retry.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let deadline = self.by_deadline.first().map(|(at, _)| *at);
        let retry = self.round.as_ref().map(|round| round.retry_at);
        deadline.into_iter().chain(retry).min()
    }
}

#[cfg(test)]
mod tests;
