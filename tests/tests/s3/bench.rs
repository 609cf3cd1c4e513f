//! `dfs bench s3` (issue 18 point 10) on a small slice: it runs every shape through the S3
//! listener (signed with its own SigV4 signer, which s3s must accept) and through the native
//! API, and reports each with a positive ratio. No timing is asserted (DESIGN §4: figures are
//! for BENCHMARKS.md, never for tests).

use dfs_tests::dfs_bin;

#[test]
fn bench_s3_runs_every_shape_signed_and_reports_ratios() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _slot = runtime.block_on(dfs_tests::s3::slot());
    let temp = tempfile::tempdir().expect("temp dir");
    let output = std::process::Command::new(dfs_bin())
        .args(["--json", "bench", "s3", "--small-files", "30", "--small-concurrency", "4"])
        .args(["--large-files", "2", "--large-mib", "2", "--large-concurrency", "2"])
        .args(["--lists", "3"])
        .env("TMPDIR", temp.path())
        .output()
        .expect("dfs runs");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "dfs bench s3 failed:\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    for shape in ["small_put", "small_get", "large_put", "large_get", "list"] {
        let figures = &report[shape];
        for field in ["native", "s3", "ratio"] {
            let value = figures[field].as_f64().unwrap_or(0.0);
            assert!(value > 0.0 && value.is_finite(), "{shape}.{field} = {value}: {report}");
        }
        assert!(figures["unit"].is_string(), "{report}");
    }
    assert_eq!(report["setup"]["list_keys"], 30, "{report}");
    assert_eq!(report["setup"]["small_files"], 30, "{report}");
    assert_eq!(report["target_ratio"], 0.8, "{report}");
}
