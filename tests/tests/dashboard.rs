//! The dashboard (issue 6, DESIGN §2 "monitoring") in a real browser: headless Chromium, driven
//! through chromedriver's WebDriver API, renders the members of a running 3-node cluster, its
//! files with working download links, and shows a killed node go down without a reload.
//! Screenshots go to `<target dir>/test-artifacts/dashboard-*.png`. Needs Debian's chromium and
//! chromium-driver: `scripts/install-test-deps` (which `scripts/test` runs).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dfs_runtime::config::HealingConfig;
use dfs_tests::webdriver::Browser;
use dfs_tests::{artifact_dir, wait_for, ClusterSpec, TestCluster};
use serde_json::Value;

/// Suspect after 1 s of silence, down after 2 s; lost only after 60 s, so the killed node
/// stays down for the rest of the test.
fn quick() -> HealingConfig {
    HealingConfig { reassign_after_secs: 60, ..dfs_tests::quick_healing() }
}

/// Every node row on the page as (id, health, leader marker).
const NODE_ROWS: &str =
    "return Array.from(document.querySelectorAll('#nodes-body tr[data-node-id]'))
    .map(r => [Number(r.dataset.nodeId), r.dataset.health, r.dataset.leader === 'true']);";

fn rows(value: &Value) -> Vec<(u64, String, bool)> {
    let rows = value.as_array().cloned().unwrap_or_default();
    rows.iter()
        .filter_map(|r| Some((r[0].as_u64()?, r[1].as_str()?.to_owned(), r[2].as_bool()?)))
        .collect()
}

/// Waits until `script`'s result passes `accept`, which returns what the test needs from it.
async fn wait_in_page<T>(
    browser: &Browser,
    limit: Duration,
    what: &str,
    script: &str,
    accept: impl Fn(&Value) -> Option<T>,
) -> T {
    wait_for(limit, what, || async { accept(&browser.execute(script).await) }).await
}

fn screenshot_path(name: &str) -> PathBuf {
    artifact_dir().join(format!("dashboard-{name}.png"))
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_their_types_and_no_cache() {
    let cluster = TestCluster::start(ClusterSpec::new(1)).await;
    let base = cluster.node(1).url();
    let page =
        [("/", "text/html"), ("/dashboard.css", "text/css"), ("/dashboard.js", "text/javascript")];
    for (path, content_type) in page {
        let response = cluster.http.get(format!("{base}{path}")).send().await.expect("get");
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
        };
        assert!(
            header("content-type").starts_with(content_type),
            "{path}: {}",
            header("content-type")
        );
        assert_eq!(header("cache-control"), "no-cache", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        let body = response.text().await.expect("body");
        assert!(body.len() > 500, "{path} has content");
        if path == "/" {
            assert!(body.contains("/dashboard.css") && body.contains("/dashboard.js"), "{body}");
        }
    }
}

#[tokio::test]
async fn the_dashboard_shows_every_node_and_a_killed_node_going_down_without_a_reload() {
    Browser::require_installed();
    let started = Instant::now();
    let mut cluster =
        TestCluster::start(ClusterSpec { healing: quick(), ..ClusterSpec::new(3) }).await;
    let folder = format!("{}/folders/photos/2026", cluster.node(1).url());
    assert_eq!(cluster.http.post(folder).send().await.expect("mkdir").status(), 201);
    cluster.put(1, "/photos/2026/cat.jpg", b"not really a cat".to_vec()).await;
    cluster.put(1, "/readme.txt", b"hello from the dashboard test\n".to_vec()).await;

    // The browser watches a follower; the victim is the other follower.
    let leader = cluster.wait_for_leader(1).await;
    let watched = (1..=3).find(|&id| id != leader).expect("a follower");
    let victim = (1..=3).find(|&id| id != leader && id != watched).expect("another follower");
    let browser = Browser::start(1400, 1000, &artifact_dir().join("chromedriver.log")).await;
    browser
        .goto(&format!("{}/#token={}", cluster.node(watched).url(), dfs_tests::admin_token()))
        .await;

    let three_up = |v: &Value| {
        let rows = rows(v);
        let all_up = rows.len() == 3 && rows.iter().all(|(_, health, _)| health == "up");
        let leaders: Vec<u64> = rows.iter().filter(|r| r.2).map(|r| r.0).collect();
        (all_up && leaders == [leader]).then_some(())
    };
    wait_in_page(&browser, Duration::from_secs(15), "3 nodes up, one leader", NODE_ROWS, three_up)
        .await;
    let header = browser
        .execute(
            "return [document.getElementById('leader').dataset.leader,
                     document.getElementById('this-node').dataset.node,
                     document.getElementById('banner').hidden];",
        )
        .await;
    assert_eq!(header, serde_json::json!([leader.to_string(), watched.to_string(), true]));

    // The file browser lists the root, and its download link serves the file.
    let files = "return Array.from(document.querySelectorAll('#files-body tr[data-path]'))
        .map(r => [r.dataset.path, r.dataset.kind, (r.querySelector('a[data-download]') || {}).href || null]);";
    let readme_href =
        wait_in_page(&browser, Duration::from_secs(10), "the root listing", files, |v| {
            let rows = v.as_array()?;
            let has = |path: &str, kind: &str| rows.iter().any(|r| r[0] == path && r[1] == kind);
            if !has("/photos", "folder") {
                return None;
            }
            rows.iter().find(|r| r[0] == "/readme.txt" && r[1] == "file")?[2]
                .as_str()
                .map(String::from)
        })
        .await;
    assert!(readme_href.contains("/files/readme.txt?access_token="), "{readme_href}");
    let download = cluster.http.get(&readme_href).send().await.expect("download");
    assert_eq!(download.bytes().await.expect("body").as_ref(), b"hello from the dashboard test\n");
    let queue = "return document.getElementById('queue-summary').dataset.total;";
    wait_in_page(&browser, Duration::from_secs(10), "the queue summary", queue, |v| {
        v.as_str()?.parse::<u64>().ok()
    })
    .await;
    let before = browser.save_screenshot(&screenshot_path("before-kill")).await;

    // Kill a follower: the live page (no reload) marks it down, the others stay up.
    browser.execute("window.dfsTestMarker = 'same page'; return null;").await;
    cluster.kill9(victim);
    let killed_at = Instant::now();
    let victim_down = |v: &Value| {
        let rows = rows(v);
        let down = rows.iter().any(|(id, health, _)| *id == victim && health == "down");
        let others_up = rows.iter().filter(|r| r.0 != victim).all(|(_, health, _)| health == "up");
        (rows.len() == 3 && down && others_up).then_some(())
    };
    let limit = Duration::from_secs(15);
    wait_in_page(&browser, limit, "the killed node shown down", NODE_ROWS, victim_down).await;
    eprintln!("n{victim} shown down {:?} after the kill", killed_at.elapsed());
    let marker = browser.execute("return window.dfsTestMarker || null;").await;
    assert_eq!(marker, "same page", "the page updated itself without a reload");

    // With a node down the queue panel never claims every chunk has its replicas: it is either
    // waiting on the node (named) or already copying.
    let summary = "return document.getElementById('queue-summary').textContent;";
    let victim_name = format!("n{victim} down");
    wait_in_page(&browser, limit, "the queue panel to account for the down node", summary, |v| {
        let text = v.as_str()?;
        let honest = text.contains(&victim_name) || text.contains("queued (");
        (honest && !text.contains("every chunk has its replicas")).then_some(())
    })
    .await;

    // The change also arrives in the page's event list, from this node's event stream.
    let events_url = format!("{}/events", cluster.node(watched).url());
    let events = cluster.http.get(events_url).send().await.expect("GET /events answers");
    assert_eq!(events.status(), 200, "the watched node serves its event stream");
    drop(events);
    let script = format!(
        "return document.querySelectorAll('#events li[data-kind=\"node_down\"][data-node=\"{victim}\"]').length;"
    );
    wait_in_page(&browser, limit, "a node_down event in the page", &script, |v| {
        (v.as_u64()? > 0).then_some(())
    })
    .await;
    let after = browser.save_screenshot(&screenshot_path("after-kill")).await;
    eprintln!(
        "dashboard test took {:?}; screenshots {} and {}",
        started.elapsed(),
        before.display(),
        after.display()
    );
}
