#![no_main]
//! Arbitrary bytes streamed through the chunker: chunks reassemble to the input, sizes stay in
//! bounds, streaming cuts like the whole.
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| dfs_runtime::chunker::fuzz_chunker(bytes));
