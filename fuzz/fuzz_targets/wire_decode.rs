#![no_main]
//! Arbitrary bytes as a frame: a typed error or a message that round-trips, never a panic.
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| dfs_core::testing::fuzz::wire_decode(bytes));
