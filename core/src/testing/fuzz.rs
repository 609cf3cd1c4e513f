//! Fuzz bodies, called by the cargo-fuzz targets in `fuzz/` and by core tests on seeded input.
//!
//! `node_inputs` drives a 3-node cluster with a schedule the fuzzer chooses: client commands to
//! any node, time jumps, crashes and restarts, partitions, loss and duplication. Peer messages are
//! the ones real nodes produce: raft-rs treats a forged message from an authenticated peer (say,
//! a heartbeat committing past the log) as fatal by design, so forgeries are kept out at the
//! transport's authenticated handshake, not here.

use std::time::Duration;

use crate::command::Command;
use crate::ids::{ChunkId, Hash, NodeId};
use crate::path::{Path, NAME_BYTES_MAX, PATH_BYTES_MAX, PATH_DEPTH_MAX};
use crate::wire::{self, FRAME_BYTES_MAX_DEFAULT};

use super::{Cluster, NetOptions};

/// Most steps one fuzz input applies.
pub const STEPS_MAX: usize = 256;
/// Longest time jump one step makes.
pub const JUMP_MAX: Duration = Duration::from_secs(10);

/// Arbitrary bytes as a frame: a typed error, or a message that round-trips and whose
/// re-encoding is byte-stable (so a relayed message is the same bytes on every hop).
pub fn wire_decode(bytes: &[u8]) {
    let max = FRAME_BYTES_MAX_DEFAULT;
    let Ok(message) = wire::decode(bytes, max) else { return };
    let encoded = wire::encode(&message, max).expect("decoded messages re-encode");
    assert_eq!(wire::decode(&encoded, max).as_ref(), Ok(&message), "round trip");
    assert_eq!(wire::encode(&message, max).as_ref(), Ok(&encoded), "encoding is deterministic");
}

/// Arbitrary text as a namespace path: refused, or accepted only if it is absolute, normalized
/// and within the limits; an accepted path is its own text, survives a serde round trip, and
/// its parent chain climbs to the root in exactly its depth.
pub fn path_parse(bytes: &[u8]) {
    let Ok(raw) = std::str::from_utf8(bytes) else { return };
    let Ok(path) = Path::parse(raw) else { return };
    assert_eq!(path.as_str(), raw, "an accepted path is kept as given");
    assert!(raw.len() <= PATH_BYTES_MAX && !raw.contains('\0'), "limits: {raw:?}");
    assert!(!raw.chars().any(crate::path::is_refused_control), "controls: {raw:?}");
    let segments: Vec<&str> = raw.split('/').skip(1).filter(|s| !s.is_empty()).collect();
    assert!(segments.len() <= PATH_DEPTH_MAX, "depth: {raw:?}");
    for segment in &segments {
        assert!(!matches!(*segment, "." | "..") && segment.len() <= NAME_BYTES_MAX, "{raw:?}");
    }
    assert!(path.is_root() || !raw.ends_with('/') && !raw.contains("//"), "normalized: {raw:?}");
    let encoded = postcard::to_allocvec(&path).expect("a path serializes");
    let decoded: Path = postcard::from_bytes(&encoded).expect("an accepted path decodes");
    assert_eq!(decoded, path, "serde round trip");
    assert_eq!(path.ancestors().len(), segments.len(), "one ancestor per level above the name");
    if let Some(parent) = path.parent() {
        assert_eq!(parent.join(path.name()).as_ref(), Ok(&path), "parent + name = path");
    }
}

/// One step of a fuzzed schedule. Node numbers wrap onto the cluster's three nodes.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Step {
    /// Process the next event.
    Next,
    /// Let simulated time pass (capped at [`JUMP_MAX`]).
    Wait {
        /// Milliseconds.
        millis: u16,
    },
    /// A client command to a node.
    Client {
        /// Which node.
        node: u8,
        /// The command.
        command: Command,
    },
    /// A file written through a node's upload machine (placement, store jobs, write quorum).
    Upload {
        /// Which node.
        node: u8,
        /// Which of 8 files.
        file: u8,
        /// How many chunks (up to 3).
        chunks: u8,
    },
    /// Kill a node (unsynced writes lost).
    Crash {
        /// Which node.
        node: u8,
    },
    /// Start a crashed node again.
    Restart {
        /// Which node.
        node: u8,
    },
    /// Cut a node off.
    Isolate {
        /// Which node.
        node: u8,
    },
    /// Restore every link.
    Heal,
    /// Set message loss and duplication, per thousand (capped at 500).
    Lossy {
        /// Loss.
        drop_per_mille: u16,
        /// Duplication.
        duplicate_per_mille: u16,
    },
}

/// Applies up to [`STEPS_MAX`] steps to a 3-node cluster, checking safety after each; then heals
/// and requires a leader to emerge.
pub fn node_inputs(steps: &[Step]) {
    let mut cluster = Cluster::new(0xF022, 3);
    let pick = |n: u8| NodeId(u64::from(n % 3) + 1);
    for step in steps.iter().take(STEPS_MAX) {
        match step {
            Step::Next => {
                cluster.step();
            }
            Step::Wait { millis } => {
                let jump = Duration::from_millis(u64::from(*millis)).min(JUMP_MAX);
                cluster.run_for(jump);
            }
            Step::Client { node, command } => {
                if cluster.node(pick(*node)).is_some() {
                    cluster.submit(pick(*node), command.clone());
                }
            }
            Step::Upload { node, file, chunks } => {
                if cluster.node(pick(*node)).is_some() {
                    let path = format!("/f{}", file % 8);
                    let data: Vec<(ChunkId, u32)> = (0..chunks % 4)
                        .map(|i| (ChunkId(Hash::of(format!("{path}/{i}").as_bytes())), 1 << 16))
                        .collect();
                    cluster.upload(pick(*node), &path, &data);
                }
            }
            Step::Crash { node } => cluster.crash(pick(*node)),
            Step::Restart { node } => {
                if cluster.node(pick(*node)).is_none() {
                    cluster.restart(pick(*node));
                }
            }
            Step::Isolate { node } => cluster.isolate(pick(*node)),
            Step::Heal => cluster.heal(),
            Step::Lossy { drop_per_mille, duplicate_per_mille } => {
                cluster.net.options = NetOptions {
                    drop_per_mille: u32::from(*drop_per_mille).min(500),
                    duplicate_per_mille: u32::from(*duplicate_per_mille).min(500),
                    ..NetOptions::default()
                };
            }
        }
        if let Err(violation) = cluster.check_invariants() {
            panic!("safety violated: {violation}");
        }
    }
    settle(&mut cluster);
}

/// Heals everything and requires a leader within a bounded time, unless membership changes
/// left the cluster unable to elect one (a voter that does not exist).
fn settle(cluster: &mut Cluster) {
    cluster.heal();
    cluster.net.options = NetOptions::default();
    for id in cluster.ids() {
        if cluster.node(id).is_none() {
            cluster.restart(id);
        }
    }
    let electable = cluster.ids().iter().all(|&id| {
        cluster
            .node(id)
            .is_some_and(|n| n.status().voters.iter().all(|v| cluster.ids().contains(v)))
    });
    let led = cluster.run_until(Duration::from_secs(30), |c| c.leader().is_some());
    if let Err(violation) = cluster.check_invariants() {
        panic!("safety violated: {violation}");
    }
    assert!(led || !electable, "no leader 30 s after healing a fully connected cluster");
}
