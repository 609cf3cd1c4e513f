//! The fault schedule (DESIGN §1 sim): drawn from the seed, every fault starts and ends inside the
//! fault period, so the cluster can settle afterwards. Kinds: full partitions (a minority or a
//! majority cut off), one-way partitions, held links (messages queue, then arrive at once),
//! latency spikes, node crashes (the leader included; unsynced writes lost, torn writes) with a
//! restart, a power loss of every node at once, chunk-store I/O errors, a full chunk disk, and
//! silent corruption of a stored chunk.
//!
//! Message loss is modelled as latency and short partitions, not with turmoil's fail rate: that
//! drops whole TCP connections, which no real network does for a lost packet.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What goes wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nodes `side` cannot talk to the others, either way.
    Partition {
        /// One side (node indexes).
        side: Vec<usize>,
    },
    /// Messages from `from` to `to` are lost; the other way works.
    OneWay {
        /// Sender.
        from: usize,
        /// Receiver.
        to: usize,
    },
    /// Messages between `a` and `b` are held, then all delivered when released.
    Hold {
        /// One end.
        a: usize,
        /// The other.
        b: usize,
    },
    /// Every message takes up to this long.
    Latency {
        /// Longest delay.
        max: Duration,
    },
    /// The node crashes (losing what it did not fsync) and restarts when the fault ends.
    Crash {
        /// The node; `None` means whichever node leads when the fault starts.
        node: Option<usize>,
    },
    /// Every node loses power at once (losing what it did not fsync) and restarts when the fault
    /// ends: nothing acknowledged may be lost, since every node had it durable.
    PowerLoss,
    /// Every chunk-store write on the node fails with an I/O error.
    DiskErrors {
        /// The node.
        node: usize,
    },
    /// The node's chunk disk is full.
    DiskFull {
        /// The node.
        node: usize,
    },
    /// One stored chunk on the node silently rots (one byte flipped).
    Corrupt {
        /// The node.
        node: usize,
    },
}

impl Fault {
    /// The kind's name (for fire counts).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::OneWay { .. } => "one_way",
            Fault::Hold { .. } => "hold",
            Fault::Latency { .. } => "latency",
            Fault::Crash { node: None } => "crash_leader",
            Fault::Crash { .. } => "crash",
            Fault::PowerLoss => "power_loss",
            Fault::DiskErrors { .. } => "disk_errors",
            Fault::DiskFull { .. } => "disk_full",
            Fault::Corrupt { .. } => "corrupt",
        }
    }
}

/// Every fault kind, for the fire-count check.
pub const KINDS: [&str; 10] = [
    "partition",
    "one_way",
    "hold",
    "latency",
    "crash_leader",
    "crash",
    "power_loss",
    "disk_errors",
    "disk_full",
    "corrupt",
];

/// One fault with its start and end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduled {
    /// When it starts (simulated time since the run began).
    pub at: Duration,
    /// When it ends.
    pub until: Duration,
    /// What it is.
    pub fault: Fault,
}

/// The schedule of seed `seed` for `nodes` nodes, with faults between `from` and `to`.
pub fn schedule(seed: u64, nodes: usize, from: Duration, to: Duration) -> Vec<Scheduled> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xfa17_5eed);
    let span = to.saturating_sub(from).as_millis() as u64;
    let count = rng.gen_range(4..10);
    let mut faults = Vec::new();
    for _ in 0..count {
        let at = from + Duration::from_millis(rng.gen_range(0..span.max(1)));
        let left = to.saturating_sub(at).as_millis() as u64;
        let lasts = Duration::from_millis(rng.gen_range(300..8_000).min(left.max(1)));
        let node = rng.gen_range(0..nodes);
        let other = (node + rng.gen_range(1..nodes)) % nodes;
        let fault = match rng.gen_range(0..100) {
            0..=17 => {
                let mut all: Vec<usize> = (0..nodes).collect();
                all.shuffle(&mut rng);
                let size = if rng.gen_bool(0.5) { (nodes - 1) / 2 } else { 1 };
                let mut side = all[..size.max(1)].to_vec();
                side.sort_unstable();
                Fault::Partition { side }
            }
            18..=27 => Fault::OneWay { from: node, to: other },
            28..=37 => Fault::Hold { a: node, b: other },
            38..=47 => Fault::Latency { max: Duration::from_millis(rng.gen_range(20..400)) },
            48..=59 => Fault::Crash { node: None },
            60..=74 => Fault::Crash { node: Some(node) },
            75..=81 => Fault::DiskErrors { node },
            82..=88 => Fault::DiskFull { node },
            _ => Fault::Corrupt { node },
        };
        faults.push(Scheduled { at, until: at + lasts, fault });
    }
    // Drawn from a stream of its own, so adding it left every other fault of a seed as it was.
    let mut power = ChaCha8Rng::seed_from_u64(seed ^ 0x0b1a_c0a7);
    if power.gen_bool(POWER_LOSS_CHANCE) {
        let at = from + Duration::from_millis(power.gen_range(0..span.max(1)));
        let lasts = Duration::from_millis(power.gen_range(200..3_000));
        faults.push(Scheduled { at, until: (at + lasts).min(to), fault: Fault::PowerLoss });
    }
    faults.sort_by_key(|s| s.at);
    faults
}

/// The share of seeds with a power loss of the whole cluster.
pub const POWER_LOSS_CHANCE: f64 = 0.3;

/// How often each fault kind fired in a run.
pub type FireCounts = BTreeMap<&'static str, u32>;
