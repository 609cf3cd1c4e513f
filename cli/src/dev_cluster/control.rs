//! The dev cluster's control socket, `<dir>/control.sock`: `dfs dev-cluster restart N` asks the
//! running `dfs dev-cluster` (which owns the node processes, so Ctrl-C still stops them all) to
//! start node N again. One request line (`restart N`), one answer line (`ok PID` or
//! `error MESSAGE`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::{START_TIMEOUT, STOP_TIMEOUT};

/// Longest request line read.
const REQUEST_BYTES_MAX: u64 = 256;
/// Longest a request may take to arrive once connected.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the control socket of the dev cluster in `dir` lives.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("control.sock")
}

/// Binds the control socket of `dir`; fails if a dev cluster already runs there. A socket file
/// left by one that died is replaced.
pub async fn listen(dir: &Path) -> anyhow::Result<UnixListener> {
    let path = socket_path(dir);
    if path.exists() {
        if UnixStream::connect(&path).await.is_ok() {
            bail!("a dev cluster already runs in {} (its control socket answers)", dir.display());
        }
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))
}

/// What a client asked.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// Start node `id` again (stopping it first if it runs).
    Restart(u64),
}

/// Reads one request from `stream`; `Err` with the answer to send for a bad one.
pub async fn read_request(stream: &mut UnixStream) -> Result<Request, String> {
    let mut line = String::new();
    let mut reader = BufReader::new(stream).take(REQUEST_BYTES_MAX);
    match tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await {
        Ok(Ok(_)) => parse(&line),
        Ok(Err(e)) => Err(format!("reading the request: {e}")),
        Err(_) => Err("no request line within 5 s".to_owned()),
    }
}

fn parse(line: &str) -> Result<Request, String> {
    match line.trim().split_once(' ') {
        Some(("restart", id)) => id
            .parse()
            .map(Request::Restart)
            .map_err(|_| format!("not a node id: {}", id.escape_debug())),
        _ => Err("expected `restart N`".to_owned()),
    }
}

/// Sends one answer line.
pub async fn answer(stream: &mut UnixStream, answer: Result<u32, String>) {
    let line = match answer {
        Ok(pid) => format!("ok {pid}\n"),
        Err(message) => format!("error {}\n", message.replace('\n', " ")),
    };
    let _ = stream.write_all(line.as_bytes()).await;
}

/// `dfs dev-cluster restart ID`: asks the dev cluster in `dir` to restart node `id`; the new
/// process id once the node answers `/health`.
pub async fn restart(dir: &Path, id: u64) -> anyhow::Result<u32> {
    let path = socket_path(dir);
    let mut stream = UnixStream::connect(&path).await.with_context(|| {
        format!("no dev cluster runs in {} (nothing answers on {})", dir.display(), path.display())
    })?;
    stream.write_all(format!("restart {id}\n").as_bytes()).await?;
    let mut line = String::new();
    let wait = START_TIMEOUT + STOP_TIMEOUT + REQUEST_TIMEOUT;
    let mut reader = BufReader::new(stream).take(REQUEST_BYTES_MAX);
    tokio::time::timeout(wait, reader.read_line(&mut line))
        .await
        .context("the dev cluster did not answer in time")??;
    match line.trim().split_once(' ') {
        Some(("ok", pid)) => pid.parse().context("the dev cluster's answer names no pid"),
        Some(("error", message)) => bail!("{message}"),
        _ => bail!("the dev cluster answered {:?}", line.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_bad_ones_say_why() {
        assert_eq!(parse("restart 2\n"), Ok(Request::Restart(2)));
        assert!(matches!(parse("restart x"), Err(e) if e.contains("not a node id")));
        assert!(matches!(parse("stop 2"), Err(e) if e.contains("restart N")));
        assert!(parse("").is_err());
    }
}
