//! Just enough of a WebDriver client to drive headless Chromium from a test: chromedriver on a
//! free loopback port, one session, navigate, run a script, take a screenshot. Everything goes
//! over chromedriver's HTTP API with `reqwest`; dropping the [`Browser`] ends the session and
//! kills chromedriver's process group (Chromium with it), also when the test panics.
//! Chromium and chromedriver come from Debian (`scripts/install-test-deps`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::POLL_EVERY;

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Attempts at starting chromedriver (its port may be taken between picking and binding it).
const START_ATTEMPTS: usize = 3;
/// How long chromedriver may take to answer `/status` as ready.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// How long one WebDriver command may take (creating a session starts Chromium).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the teardown may wait for chromedriver to close the session.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// A headless Chromium session behind its own chromedriver process.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    http: reqwest::Client,
    /// Chromium's `TMPDIR`: it leaves singleton sockets behind in `/tmp` otherwise. Dropped (and
    /// removed) after the processes are gone.
    _tmp: tempfile::TempDir,
}

impl Browser {
    /// Fails the test, saying how to install them, unless Chromium and chromedriver are there.
    pub fn require_installed() {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: the browser tests need Debian's chromium and chromium-driver; \
                 run `scripts/install-test-deps` (scripts/test does)"
            );
        }
    }

    /// Starts chromedriver on a free port, waits until it is ready and opens a headless
    /// Chromium session with a `width`×`height` window. `log` receives chromedriver's log.
    pub async fn start(width: u32, height: u32, log: &Path) -> Self {
        Self::require_installed();
        let http =
            dfs_runtime::tls::client_builder().timeout(COMMAND_TIMEOUT).build().expect("client");
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).expect("chromedriver log dir");
        }
        let tmp = tempfile::tempdir().expect("chromium temp dir");
        for attempt in 1..=START_ATTEMPTS {
            let addr = dfs_runtime::ports::free_loopback_addrs(1).expect("a free port")[0];
            let mut driver = Command::new(CHROMEDRIVER)
                .arg(format!("--port={}", addr.port()))
                .arg(format!("--log-path={}", log.display()))
                .env("TMPDIR", tmp.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("start chromedriver");
            if ready(&http, addr, &mut driver).await {
                let session = new_session(&http, addr, width, height).await;
                return Self { driver, addr, session, http, _tmp: tmp };
            }
            kill_group(&mut driver);
            eprintln!("chromedriver attempt {attempt} on {addr} did not get ready; retrying");
        }
        panic!("chromedriver did not start in {START_ATTEMPTS} attempts (log: {})", log.display());
    }

    fn url(&self, rest: &str) -> String {
        format!("http://{}/session/{}{rest}", self.addr, self.session)
    }

    /// Sends one WebDriver command and returns its `value`; fails the test on an error answer.
    async fn command(&self, method: reqwest::Method, rest: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, self.url(rest));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("webdriver {rest}: {e}"));
        let status = response.status();
        let answer: Value = response.json().await.expect("webdriver answers JSON");
        assert!(status.is_success(), "webdriver {rest} failed with {status}: {answer}");
        answer["value"].clone()
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    /// Runs `script` (a function body; `return` gives the result) in the page.
    pub async fn execute(&self, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.command(reqwest::Method::POST, "/execute/sync", Some(body)).await
    }

    /// A PNG of the window as it is now.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let png = decode_base64(encoded.as_str().expect("a base64 string")).expect("valid base64");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot is a PNG");
        png
    }

    /// Saves a screenshot to `path` (creating its folder) and prints where it went.
    pub async fn save_screenshot(&self, path: &Path) -> PathBuf {
        let png = self.screenshot().await;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("artifact dir");
        }
        std::fs::write(path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
        path.to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Drop cannot await: a blocking DELETE lets chromedriver quit Chromium and remove its
        // profile dir; killing the process group then catches anything left.
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.session, self.addr
        );
        if let Ok(mut stream) = TcpStream::connect_timeout(&self.addr, CLOSE_WITHIN) {
            let _ = stream.set_read_timeout(Some(CLOSE_WITHIN));
            // The answer comes once Chromium has quit; chromedriver keeps the connection open
            // after it, so one read is the wait (not read-to-end).
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read(&mut [0u8; 1024]);
            }
        }
        kill_group(&mut self.driver);
    }
}

/// Waits until chromedriver at `addr` says it is ready; `false` if it exits or takes too long.
async fn ready(http: &reqwest::Client, addr: SocketAddr, driver: &mut Child) -> bool {
    let mut ticks = tokio::time::interval(POLL_EVERY);
    let polled = tokio::time::timeout(READY_WITHIN, async {
        loop {
            ticks.tick().await;
            if matches!(driver.try_wait(), Ok(Some(_))) {
                return false;
            }
            let Ok(response) = http.get(format!("http://{addr}/status")).send().await else {
                continue;
            };
            let status: Value = response.json().await.unwrap_or_default();
            if status["value"]["ready"] == true {
                return true;
            }
        }
    })
    .await;
    polled == Ok(true)
}

async fn new_session(http: &reqwest::Client, addr: SocketAddr, width: u32, height: u32) -> String {
    let capabilities = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                format!("--window-size={width},{height}"),
            ],
        },
    }}});
    let response = http
        .post(format!("http://{addr}/session"))
        .json(&capabilities)
        .send()
        .await
        .expect("create a webdriver session");
    let answer: Value = response.json().await.expect("session answer is JSON");
    answer["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("chromium did not start a session: {answer}"))
        .to_owned()
}

/// SIGKILL to chromedriver's process group (it and the Chromium it started), then reaps it.
fn kill_group(driver: &mut Child) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    if let Ok(pid) = i32::try_from(driver.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = driver.wait();
}

/// Standard base64 (RFC 4648 alphabet, padding optional) to bytes; `None` on a stray character.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::decode_base64;

    #[test]
    fn base64_decodes_with_and_without_padding_and_rejects_stray_characters() {
        assert_eq!(decode_base64("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("aGVsbG8").as_deref(), Some(&b"hello"[..]));
        assert_eq!(decode_base64("iVBORw0KGgo=").as_deref(), Some(&b"\x89PNG\r\n\x1a\n"[..]));
        assert_eq!(decode_base64(""), Some(Vec::new()));
        assert_eq!(decode_base64("aGV*"), None);
    }
}
