//! The node's only source of randomness (DESIGN §1 core: "randomness comes from a rand_chacha RNG
//! seeded by the caller and owned by the node"). ChaCha8 with an explicit stream per node, never
//! `StdRng`, whose algorithm may change between rand releases and break replay.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::ids::NodeId;

/// The RNG a node owns: election timeouts, incarnation numbers, placement tie-breaks.
pub type NodeRng = ChaCha8Rng;

/// The RNG for `node` in a run seeded with `seed`: same pair, same sequence, on every platform.
pub fn node_rng(seed: u64, node: NodeId) -> NodeRng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(node.0);
    rng
}
