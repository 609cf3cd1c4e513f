//! The mass-delete guard of `dfs watch`: when one batch of local deletions removes more than
//! `--max-delete-share` of the synced files (and at least [`HELD_DELETES_MIN`] files), none of
//! them is pushed. They are written to `DIR/.dfs-sync/held-deletes.json` and printed; while any
//! are held, later deletions are held too. `dfs sync-confirm DIR` pushes them (each path only if
//! it is still gone locally); `dfs sync-confirm DIR --discard` forgets them (the files stay in
//! the cluster, and a mirror of the folder brings them back).

use std::collections::BTreeSet;
use std::io::Write;

use serde::{Deserialize, Serialize};

use super::{load_json, save_json, Pair};
use crate::client::{json_or_error, Client};
use crate::commands::url_path;

/// A batch of deletions smaller than this is never held, whatever the share.
pub const HELD_DELETES_MIN: usize = 4;
/// The state file of held deletions.
pub const HELD_FILE: &str = "held-deletes.json";

/// Deletions waiting for `dfs sync-confirm`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Held {
    /// The cluster folder the deletions are under.
    pub root: String,
    /// Relative paths (files or folders) deleted locally.
    pub paths: BTreeSet<String>,
}

/// Whether `deleted` files out of `tracked` synced files is a mass deletion.
pub fn is_mass_delete(deleted: usize, tracked: usize, max_share: f64) -> bool {
    deleted >= HELD_DELETES_MIN && (deleted as f64) > max_share * tracked as f64
}

/// The held deletions of `pair` (empty if none).
pub fn load(pair: &Pair) -> anyhow::Result<Held> {
    let path = pair.state_path(HELD_FILE)?;
    Ok(load_json(&path).unwrap_or_else(|| Held { root: pair.root.clone(), ..Held::default() }))
}

/// Adds `paths` to the held deletions and tells the user what to do.
pub fn hold(pair: &Pair, paths: &BTreeSet<String>, files: usize) -> anyhow::Result<()> {
    let mut held = load(pair)?;
    held.root = pair.root.clone();
    held.paths.extend(paths.iter().cloned());
    save_json(&pair.state_path(HELD_FILE)?, &held)?;
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "dfs watch: HELD {} local deletion(s) ({files} file(s)) in {}: more than the allowed share of the synced files; nothing was deleted in the cluster.",
        paths.len(),
        pair.dir.display()
    )?;
    for path in paths.iter().take(20) {
        writeln!(err, "  held: {path}")?;
    }
    writeln!(
        err,
        "  run `dfs sync-confirm {}` to delete them in the cluster, or `--discard` to keep them there",
        pair.dir.display()
    )?;
    Ok(())
}

/// Whether deletions are currently held (so new ones are held too).
pub fn any_held(pair: &Pair) -> bool {
    load(pair).is_ok_and(|held| !held.paths.is_empty())
}

/// `dfs sync-confirm DIR [--discard]`: push (or forget) the held deletions.
pub async fn confirm(
    client: &Client,
    dir: &std::path::Path,
    discard: bool,
    json: bool,
) -> anyhow::Result<()> {
    let probe = Pair::new(dir, "/")?;
    let held = load(&probe)?;
    let pair = Pair::new(dir, &held.root)?;
    let mut deleted = Vec::new();
    if !discard {
        for rel in &held.paths {
            if pair.local(rel).exists() {
                continue;
            }
            let url = url_path(&pair.remote(rel))?;
            let response = client
                .send(|http, node| http.delete(format!("{node}/files/{url}?recursive=true")))
                .await?;
            match json_or_error(response).await {
                Ok(_) => deleted.push(rel.clone()),
                Err(error) if crate::client::is_gone(&error) => {}
                Err(error) => return Err(error.context(format!("deleting {rel}"))),
            }
        }
    }
    let _ = std::fs::remove_file(pair.state_path(HELD_FILE)?);
    let value =
        serde_json::json!({ "deleted": deleted, "discarded": discard, "held": held.paths.len() });
    crate::commands::print(json, &value, |out| {
        if discard {
            writeln!(out, "forgot {} held deletion(s); the cluster keeps them", held.paths.len())
        } else {
            writeln!(
                out,
                "deleted {} of {} held path(s) in the cluster",
                deleted.len(),
                held.paths.len()
            )
        }
    })
}
