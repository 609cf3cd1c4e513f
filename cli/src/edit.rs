//! `dfs edit PATH` (DESIGN §2 "conditional writes"): downloads the latest version to a private
//! temp file, runs `$EDITOR` (else `$VISUAL`, else `vi`) on it and, if the content changed,
//! uploads it only if the file is still at the version downloaded (`If-Match`; a file that did
//! not exist is created with `If-None-Match: *`). A conflicting edit is refused, never silently
//! overwritten: the edited copy is kept and its path printed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rand::RngCore;

use crate::client::{ApiFailure, Client};
use crate::transfer::{self, PutOptions, Which};

/// `dfs edit PATH`.
pub async fn edit(client: &Client, path: &str, json: bool) -> anyhow::Result<()> {
    let dir = private_dir()?;
    let name = path.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("file");
    let local = dir.join(name);
    let base = match transfer::fetch(client, path, &local, &Which::Latest).await {
        Ok(fetched) => fetched.version,
        Err(error) if is_not_found(&error) => {
            std::fs::write(&local, b"").with_context(|| format!("creating {}", local.display()))?;
            None
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(error);
        }
    };
    let before = blake3::hash(&std::fs::read(&local)?);
    run_editor(&local)
        .with_context(|| format!("nothing was uploaded; the file is {}", local.display()))?;
    let after = blake3::hash(
        &std::fs::read(&local).with_context(|| format!("reading {}", local.display()))?,
    );
    if before == after {
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("{path}: unchanged; nothing uploaded");
        return Ok(());
    }
    let options = PutOptions { if_version: base, if_absent: base.is_none() };
    match transfer::put(client, &local, path, options, json).await {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        }
        Err(error) => {
            let kept = local.display();
            match error.downcast_ref::<ApiFailure>() {
                Some(failure) if failure.code == "version_conflict" => {
                    let now = match failure.current_version {
                        Some(v) => format!("it is at version {v} now"),
                        None => "it was deleted".to_owned(),
                    };
                    let was = base.map_or("absent".to_owned(), |v| format!("version {v}"));
                    bail!("{path} was changed by someone else while you edited ({was} when downloaded, {now}); nothing was uploaded; your edit is kept in {kept}")
                }
                _ => Err(error.context(format!("upload failed; your edit is kept in {kept}"))),
            }
        }
    }
}

/// Whether a download failed because nothing is at the path.
fn is_not_found(error: &anyhow::Error) -> bool {
    error.downcast_ref::<ApiFailure>().is_some_and(|f| f.code == "not_found")
}

/// A new directory only this user can read, under the system temp dir.
fn private_dir() -> anyhow::Result<PathBuf> {
    let suffix = rand::rngs::OsRng.next_u64();
    let dir = std::env::temp_dir().join(format!("dfs-edit-{}-{suffix:016x}", std::process::id()));
    let mut builder = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Runs the user's editor on `file` through `sh` (so `EDITOR="code --wait"` works) and waits.
fn run_editor(file: &Path) -> anyhow::Result<()> {
    let editor = ["EDITOR", "VISUAL"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "vi".to_owned());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$@\""))
        .arg(&editor)
        .arg(file)
        .status()
        .with_context(|| format!("running the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor {editor:?} failed ({status})");
    }
    Ok(())
}
