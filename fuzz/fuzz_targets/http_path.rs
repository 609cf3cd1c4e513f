#![no_main]
//! Arbitrary bytes as a namespace path and as a URL path tail: the HTTP API and core agree,
//! accepted paths are normalized and within limits, never a panic.
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| dfs_fuzz::http_path(bytes));
