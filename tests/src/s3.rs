//! Helpers of the S3 tests (`tests/s3/`): every test node serves S3 on a free port; these find
//! its endpoint, make access keys, and run the real clients (boto3 in the venv that
//! `scripts/install-test-deps` makes at `target/test-venv`, rclone, s3cmd).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::{admin_token, client_builder_with_token, wait_for, TestCluster};

/// The `[s3]` table of every test node: a free loopback port, region `dfs`.
pub fn config() -> dfs_runtime::config::S3Config {
    dfs_runtime::config::S3Config {
        listen: ([127, 0, 0, 1], 0).into(),
        region: "dfs".into(),
        domain: None,
        multipart_expire_secs: dfs_runtime::config::default_multipart_expire_secs(),
    }
}

/// Node `id`'s S3 endpoint (`http://addr`, `https://` when the cluster uses TLS), from the `endpoints.json` it writes once listening.
pub async fn endpoint(cluster: &TestCluster, id: u64) -> String {
    let file = cluster.node(id).config.data_dir.join("endpoints.json");
    wait_for(Duration::from_secs(30), &format!("n{id}'s S3 endpoint"), || async {
        let text = std::fs::read_to_string(&file).ok()?;
        let value: Value = serde_json::from_str(&text).ok()?;
        let scheme = if cluster.ca_cert.is_some() { "https" } else { "http" };
        value["s3_addr"].as_str().map(|addr| format!("{scheme}://{addr}"))
    })
    .await
}

/// A new access key `(id, secret)` made through node 1's `POST /keys` with `token` (for
/// `user`, if given).
pub async fn key_as(cluster: &TestCluster, token: &str, user: Option<&str>) -> (String, String) {
    let mut http = client_builder_with_token(token);
    if let Some(ca) = &cluster.ca_cert {
        http = http.tls_certs_only(dfs_runtime::tls::load_roots(ca).expect("certificate"));
    }
    let http = http.build().expect("client");
    let query = user.map(|u| format!("?user={u}")).unwrap_or_default();
    let url = format!("{}/keys{query}", cluster.node(1).url());
    let answer: Value = wait_for(Duration::from_secs(30), "an access key", || async {
        let response = http.post(&url).send().await.ok()?;
        (response.status() == 201).then_some(())?;
        response.json().await.ok()
    })
    .await;
    let field = |name: &str| answer[name].as_str().expect("id and secret").to_owned();
    (field("id"), field("secret"))
}

/// A new access key of the admin.
pub async fn admin_key(cluster: &TestCluster) -> (String, String) {
    key_as(cluster, &admin_token(), None).await
}

/// The boto3 venv's python.
pub fn python() -> PathBuf {
    let python = crate::target_dir().join("test-venv/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/install-test-deps", python.display());
    python
}

/// Runs the boto3 script `tests/tests/s3/<script>` with `args`; (success, stdout, stderr).
pub fn boto(script: &str, args: &[&str]) -> (bool, String, String) {
    boto_trusting(None, script, args)
}

/// [`boto`], trusting the certificate `ca` (boto3's `AWS_CA_BUNDLE`) when given.
pub fn boto_trusting(ca: Option<&Path>, script: &str, args: &[&str]) -> (bool, String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3").join(script);
    let mut command = Command::new(python());
    command.arg(path).args(args);
    if let Some(ca) = ca {
        command.env("AWS_CA_BUNDLE", ca);
    }
    let output = command.output().expect("run python");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

/// Runs `program` with `args` and `envs` (and no `AWS_CA_BUNDLE`: the endpoints are plain HTTP,
/// and rclone fails on a bundle its transport cannot load); (success, stdout, stderr).
pub fn run(program: &str, args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(program);
    command.args(args).env_remove("AWS_CA_BUNDLE").envs(envs.iter().copied());
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {program} (scripts/install-test-deps installs it): {e}"));
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

/// Clusters the S3 tests run at once: each is three nodes plus a real client process, and more
/// at once on a 2-core machine starve raft commits past the clients' timeouts (a retried
/// CreateBucket then meets the bucket its first try made).
pub const CLUSTERS_AT_ONCE: usize = 3;

static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CLUSTERS_AT_ONCE);

/// A test cluster holding one of the [`CLUSTERS_AT_ONCE`] slots until dropped; derefs to the
/// cluster.
pub struct SlotCluster {
    cluster: TestCluster,
    _slot: tokio::sync::SemaphorePermit<'static>,
}

impl std::ops::Deref for SlotCluster {
    type Target = TestCluster;
    fn deref(&self) -> &TestCluster {
        &self.cluster
    }
}

impl std::ops::DerefMut for SlotCluster {
    fn deref_mut(&mut self) -> &mut TestCluster {
        &mut self.cluster
    }
}

/// Waits for a slot, then starts the cluster.
pub async fn start(spec: crate::ClusterSpec) -> SlotCluster {
    let slot = SLOTS.acquire().await.expect("the slots are never closed");
    SlotCluster { cluster: TestCluster::start(spec).await, _slot: slot }
}

/// Waits for a slot (a test that runs its own cluster, such as a bench).
pub async fn slot() -> tokio::sync::SemaphorePermit<'static> {
    SLOTS.acquire().await.expect("the slots are never closed")
}
