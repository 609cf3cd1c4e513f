//! `dfs history`, `dfs checkpoint`, `dfs revert`, `dfs retention` (DESIGN §2 "versions"): a
//! file's kept versions, naming one, bringing an old one back as the newest, and how many
//! versions the cluster keeps.

use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::{json_or_error, Client};
use crate::commands::{print, query, url_path};

/// `dfs retention ...`.
#[derive(Debug, Subcommand)]
pub enum RetentionAction {
    /// Show how many versions of each file are kept.
    Show,
    /// Keep the newest K versions of each file, plus every checkpointed one (0: keep all).
    /// Applies to each file at its next write; GC then collects chunks no kept version uses.
    Set {
        /// Versions kept per file, the latest included; 0 keeps every version.
        keep_versions: u32,
    },
}

/// `dfs history PATH`: every kept version, oldest first, with its checkpoint names.
pub async fn history(client: &Client, path: &str, json: bool) -> anyhow::Result<()> {
    let value = client.get_json(&format!("/history/{}", url_path(path)?)).await?;
    print(json, &value, |out| {
        let deleted = if value["deleted"] == Value::Bool(true) { " (deleted)" } else { "" };
        writeln!(out, "{path}{deleted}: latest v{}", value["latest_version"])?;
        writeln!(
            out,
            "{:>8} {:>12}  {:<12} {:<10} {:<20} checkpoints",
            "version", "bytes", "blake3", "author", "created (UTC)"
        )?;
        for version in value["versions"].as_array().into_iter().flatten() {
            let hash = version["hash"].as_str().unwrap_or("?");
            let names: Vec<&str> = version["checkpoints"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            writeln!(
                out,
                "{:>8} {:>12}  {:<12} {:<10} {:<20} {}",
                format!("v{}", version["version"]),
                version["size_bytes"],
                &hash[..hash.len().min(12)],
                version["author"].as_str().unwrap_or("?"),
                utc(version["created_ms"].as_u64().unwrap_or(0)),
                names.join(",")
            )?;
        }
        Ok(())
    })
}

/// `dfs checkpoint PATH NAME [--version N]`.
pub async fn checkpoint(
    client: &Client,
    path: &str,
    name: &str,
    version: Option<u64>,
    json: bool,
) -> anyhow::Result<()> {
    let url = url_path(path)?;
    let mut pairs = vec![("name", name.to_owned())];
    pairs.extend(version.map(|v| ("version", v.to_string())));
    let query = query(&pairs);
    let response =
        client.send(|http, node| http.post(format!("{node}/checkpoints/{url}{query}"))).await?;
    let value = json_or_error(response).await?;
    print(json, &value, |out| writeln!(out, "{path} v{} is checkpoint {name:?}", value["version"]))
}

/// `dfs revert PATH N`: version N's content becomes a new latest version.
pub async fn revert(client: &Client, path: &str, version: u64, json: bool) -> anyhow::Result<()> {
    let url = url_path(path)?;
    let response = client
        .send(|http, node| http.post(format!("{node}/revert/{url}?version={version}")))
        .await?;
    let value = json_or_error(response).await?;
    print(json, &value, |out| {
        writeln!(
            out,
            "{path} v{} has the content of v{version} ({} bytes)",
            value["version"], value["size_bytes"]
        )
    })
}

/// `dfs retention show|set K`.
pub async fn retention(client: &Client, action: RetentionAction, json: bool) -> anyhow::Result<()> {
    let value = match action {
        RetentionAction::Show => client.get_json("/settings/retention").await?,
        RetentionAction::Set { keep_versions } => {
            let body = json!({ "keep_versions": keep_versions });
            let response = client
                .send(|http, node| http.put(format!("{node}/settings/retention")).json(&body))
                .await?;
            json_or_error(response).await?
        }
    };
    print(json, &value, |out| match value["keep_versions"].as_u64() {
        Some(0) | None => writeln!(out, "retention: every version is kept"),
        Some(k) => {
            writeln!(out, "retention: the newest {k} versions of each file, and checkpoints")
        }
    })
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_767_225_599_000), "2025-12-31 23:59:59");
    }
}
