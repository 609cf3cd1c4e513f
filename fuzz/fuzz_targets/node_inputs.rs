#![no_main]
//! Arbitrary schedules of inputs to a 3-node cluster: no panic, invariants after every step.
libfuzzer_sys::fuzz_target!(|steps: Vec<dfs_core::testing::fuzz::Step>| {
    dfs_core::testing::fuzz::node_inputs(&steps)
});
