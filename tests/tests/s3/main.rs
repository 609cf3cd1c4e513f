//! The S3 API (issue 18, docs/s3.md) end to end on real `dfs node` processes, driven by the
//! clients people use: boto3 (in the venv `scripts/install-test-deps` makes), rclone and s3cmd.
//! One module per client or concern.

mod access;
mod bench;
mod boto;
mod devcluster;
mod failover;
mod multipart;
mod rclone;
mod s3cmd;
