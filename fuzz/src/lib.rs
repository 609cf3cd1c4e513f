//! The fuzz targets of dfs and a stable-toolchain harness for them.
//!
//! Each target is a function of bytes whose body lives next to the code it checks
//! (`dfs_core::testing::fuzz`, `dfs_runtime::chunker`, `dfs_runtime::http`), so ordinary tests
//! run it on seeded input. The cargo-fuzz binaries in `fuzz_targets/` (coverage-guided, nightly)
//! and [`stable::run`] (a mutation loop over the corpus and random bytes, any toolchain) call
//! the same functions; `scripts/fuzz` picks whichever the machine has.

use arbitrary::{Arbitrary, Unstructured};
use dfs_core::testing::fuzz as core_fuzz;

pub mod stable;

/// One fuzz target: its name (the folder of its corpus) and its body.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// Its name, as in `fuzz_targets/<name>.rs` and `corpus/<name>/`.
    pub name: &'static str,
    /// Its body: must not panic on any input.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: [Target; 4] = [
    Target { name: "wire_decode", run: core_fuzz::wire_decode },
    Target { name: "node_inputs", run: node_inputs },
    Target { name: "http_path", run: http_path },
    Target { name: "chunker", run: dfs_runtime::chunker::fuzz_chunker },
];

/// The target named `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.into_iter().find(|t| t.name == name)
}

/// Bytes as a schedule of steps (as libFuzzer's `Arbitrary` input does it), then run.
pub fn node_inputs(bytes: &[u8]) {
    let Ok(steps) = Vec::<core_fuzz::Step>::arbitrary_take_rest(Unstructured::new(bytes)) else {
        return;
    };
    core_fuzz::node_inputs(&steps);
}

/// Bytes as a namespace path (core's rule) and as a URL path tail (the HTTP API's).
pub fn http_path(bytes: &[u8]) {
    core_fuzz::path_parse(bytes);
    dfs_runtime::http::fuzz_http_path(bytes);
}
