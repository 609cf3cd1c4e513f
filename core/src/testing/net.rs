//! The harness's network: a seeded queue of messages with delay, loss, duplication, and directed
//! links that can be cut. Delivery order is (time, send sequence), so runs replay exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::ids::NodeId;
use crate::time::Instant;
use crate::wire::Message;

/// How the simulated network misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetOptions {
    /// Shortest one-way delay.
    pub delay_min: Duration,
    /// Longest one-way delay.
    pub delay_max: Duration,
    /// Chance, per thousand, that a message is lost.
    pub drop_per_mille: u32,
    /// Chance, per thousand, that a message arrives twice.
    pub duplicate_per_mille: u32,
}

impl Default for NetOptions {
    /// A quiet LAN: 1–3 ms, no loss, no duplicates.
    fn default() -> Self {
        Self {
            delay_min: Duration::from_millis(1),
            delay_max: Duration::from_millis(3),
            drop_per_mille: 0,
            duplicate_per_mille: 0,
        }
    }
}

/// A message on its way.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// The sender.
    pub from: NodeId,
    /// The receiver.
    pub to: NodeId,
    /// The message.
    pub message: Message,
}

/// Messages in flight and the links that are cut.
pub struct Network {
    /// Current misbehaviour.
    pub options: NetOptions,
    rng: ChaCha8Rng,
    in_flight: BTreeMap<(Instant, u64), Envelope>,
    next_seq: u64,
    cut: BTreeSet<(NodeId, NodeId)>,
}

impl Network {
    /// An empty network drawing its faults from `rng`.
    pub fn new(rng: ChaCha8Rng) -> Self {
        Self {
            options: NetOptions::default(),
            rng,
            in_flight: BTreeMap::new(),
            next_seq: 0,
            cut: BTreeSet::new(),
        }
    }

    /// Queues `envelope` sent at `now`, applying loss, duplication and delay.
    pub fn send(&mut self, now: Instant, envelope: Envelope) {
        if self.is_cut(envelope.from, envelope.to) || self.chance(self.options.drop_per_mille) {
            return;
        }
        if self.chance(self.options.duplicate_per_mille) {
            let at = self.arrival(now);
            self.enqueue(at, envelope.clone());
        }
        let at = self.arrival(now);
        self.enqueue(at, envelope);
    }

    /// When the next message arrives.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.keys().next().map(|&(at, _)| at)
    }

    /// Takes the next message due at or before `now`; messages on cut links are discarded.
    pub fn take_due(&mut self, now: Instant) -> Option<Envelope> {
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > now {
                return None;
            }
            let envelope = entry.remove();
            if !self.is_cut(envelope.from, envelope.to) {
                return Some(envelope);
            }
        }
        None
    }

    /// Cuts the link `from -> to` (one way).
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.cut.insert((from, to));
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Whether `from -> to` is cut.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cut.contains(&(from, to))
    }

    /// Messages in flight.
    pub fn in_flight_count(&self) -> usize {
        self.in_flight.len()
    }

    fn enqueue(&mut self, at: Instant, envelope: Envelope) {
        self.in_flight.insert((at, self.next_seq), envelope);
        self.next_seq += 1;
    }

    fn arrival(&mut self, now: Instant) -> Instant {
        let min = self.options.delay_min.as_micros() as u64;
        let max = (self.options.delay_max.as_micros() as u64).max(min);
        now.saturating_add(Duration::from_micros(self.rng.gen_range(min..=max)))
    }

    fn chance(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && self.rng.gen_range(0..1000) < per_mille
    }
}
