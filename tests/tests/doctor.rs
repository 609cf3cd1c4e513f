//! `dfs doctor` (issue 23 point 5) on real processes: all well on a healthy cluster (exit 0), a
//! table of problems and exit 1 with a node killed, all well again once it is back.

use std::time::Duration;

use dfs_tests::{poll_until, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;

/// `dfs doctor --json`: the exit code and the report. The disk reserve is set to 0 so the
/// machine's own free space does not decide the test; it is checked on its own below.
fn doctor(cluster: &TestCluster) -> (Option<i32>, Value) {
    let (code, out, _) = cluster.cli_code(&["doctor", "--json", "--reserve-free", "0"]);
    (code, serde_json::from_str(&out).unwrap_or(Value::Null))
}

fn checks(report: &Value) -> Vec<String> {
    let problems = report["problems"].as_array().into_iter().flatten();
    problems
        .map(|p| {
            format!("{} {}", p["subject"].as_str().unwrap_or(""), p["check"].as_str().unwrap_or(""))
        })
        .collect()
}

#[tokio::test]
async fn doctor_is_quiet_on_a_healthy_cluster_and_names_a_dead_node() {
    let mut cluster = TestCluster::start(ClusterSpec::new(3)).await;
    cluster.wait_for_leader(1).await;
    // Until every member's first heartbeat with disk space, doctor reports it unknown.
    let healthy = poll_until(Duration::from_secs(30), || {
        let (code, report) = doctor(&cluster);
        async move { (code == Some(0) && report["ok"] == true).then_some(report) }
    })
    .await;
    let healthy = healthy.unwrap_or_else(|| panic!("doctor still finds: {}", doctor(&cluster).1));
    assert_eq!(healthy["nodes"].as_array().map(Vec::len), Some(3), "{healthy}");
    let (ok, out, _) = cluster.cli(&["doctor", "--reserve-free", "0"]);
    assert!(ok && out.starts_with("all well: 3 node(s) checked"), "{out}");
    // A reserve no disk can meet: every member is low on space.
    let (code, out, _) = cluster.cli_code(&["doctor", "--json", "--reserve-free", "1"]);
    let report: Value = serde_json::from_str(&out).expect("json report");
    assert_eq!(code, Some(1));
    for n in 1..=3 {
        assert!(checks(&report).contains(&format!("n{n} low_space")), "{report}");
    }
    let (code, _, err) = cluster.cli_code(&["doctor", "--reserve-free", "7"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("between 0 and 1"), "{err}");

    cluster.kill9(3);
    let url3 = cluster.node(3).url();
    let sick = wait_for(Duration::from_secs(30), "doctor to see n3 down", || {
        let (code, report) = doctor(&cluster);
        let found = checks(&report);
        let seen = found.contains(&format!("{url3} unreachable"))
            && found.iter().any(|c| c == "n3 member_not_up");
        async move { (code == Some(1) && seen).then_some(report) }
    })
    .await;
    assert_eq!(sick["ok"], false, "{sick}");
    let (code, out, _) = cluster.cli_code(&["doctor", "--reserve-free", "0"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("unreachable") && out.contains("member_not_up"), "a table: {out}");

    cluster.restart(3).await;
    wait_for(Duration::from_secs(60), "doctor to be quiet again", || {
        let (code, _) = doctor(&cluster);
        async move { (code == Some(0)).then_some(()) }
    })
    .await;
}
