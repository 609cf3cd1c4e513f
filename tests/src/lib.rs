//! Workspace-level tests of dfs: rules about the code base itself now, end-to-end tests against
//! real `dfs node` processes once the data path lands. The tests live in `tests/tests/`.
