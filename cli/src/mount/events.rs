//! Freshness: the mount follows the change feed (`GET /events`, on any node, resuming after
//! the last id) and, for every entry changed elsewhere, drops its own cached attributes and
//! asks the kernel to drop its cached entry, attributes and pages (`notify_inval_*`), so a file
//! written through another node or the S3 API shows in `ls` and reads back at once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::core::{lock, Core};
use super::inodes::split;
use crate::sync::sse::EventStream;

/// Pause before reopening a broken feed.
const REOPEN_PAUSE: Duration = Duration::from_millis(200);

/// The cluster paths an event touches; `None` for a `reset` (anything may have changed).
pub fn touched(data: &Value) -> Option<Vec<String>> {
    if data["kind"] == "reset" {
        return None;
    }
    let paths = ["path", "from", "to"]
        .iter()
        .filter_map(|k| data[*k].as_str().map(str::to_owned))
        .collect();
    Some(paths)
}

/// Whether an event removes names (so the kernel must drop the cached name, not only the
/// inode's attributes and pages). Additions and changes never drop a name: a dentry dropped
/// under a process whose working folder it is would make its `getcwd` fail.
pub fn drops_names(data: &Value) -> bool {
    matches!(data["kind"].as_str(), Some("file_removed" | "folder_removed" | "moved"))
}

/// Follows the feed until the process ends.
pub async fn follow(core: Arc<Core>, notifier: fuser::Notifier) {
    let notifier = Arc::new(notifier);
    let mut last: Option<String> = None;
    loop {
        match EventStream::open(&core.client, last.as_deref()).await {
            Ok(mut stream) => loop {
                match stream.next().await {
                    Ok(event) => {
                        if let Some(id) = event.id {
                            last = Some(id);
                        }
                        apply(&core, &notifier, &event.data);
                    }
                    Err(error) => {
                        tracing::info!(
                            error = format!("{error:#}"),
                            "the change feed broke; reopening"
                        );
                        break;
                    }
                }
            },
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "cannot open the change feed")
            }
        }
        tokio::time::sleep(REOPEN_PAUSE).await;
    }
}

/// Invalidates what `data` changed, in the mount's caches and the kernel's.
fn apply(core: &Core, notifier: &Arc<fuser::Notifier>, data: &Value) {
    let Some(paths) = touched(data) else {
        lock(&core.attrs).invalidate("/");
        return;
    };
    let names = drops_names(data);
    let mut kernel = Vec::new();
    for remote in paths {
        let Some(rel) = core.remote.relative(&remote) else { continue };
        core.invalidate(&rel);
        let inodes = lock(&core.inodes);
        if let Some(ino) = inodes.ino_of(&rel) {
            kernel.push((ino, None));
        }
        if let Some((parent, name)) = split(&rel).filter(|_| names) {
            if let Some(parent_ino) = inodes.ino_of(parent) {
                kernel.push((parent_ino, Some(name.to_owned())));
            }
        }
    }
    if kernel.is_empty() {
        return;
    }
    // A notification writes to /dev/fuse and may wait on the kernel: off the async threads.
    let notifier = notifier.clone();
    tokio::task::spawn_blocking(move || {
        for (ino, name) in kernel {
            let _ = match name {
                Some(name) => notifier.inval_entry(ino, std::ffi::OsStr::new(&name)),
                None => notifier.inval_inode(ino, 0, 0),
            };
        }
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn events_name_the_paths_they_touch() {
        let moved = json!({ "kind": "moved", "from": "/a", "to": "/b" });
        assert_eq!(super::touched(&moved), Some(vec!["/a".into(), "/b".into()]));
        let changed = json!({ "kind": "file_changed", "path": "/c", "version": 2 });
        assert_eq!(super::touched(&changed), Some(vec!["/c".into()]));
        assert_eq!(super::touched(&json!({ "kind": "reset" })), None);
        assert!(super::drops_names(&moved));
        assert!(!super::drops_names(&changed));
        assert!(!super::drops_names(&json!({ "kind": "folder_added", "path": "/d" })));
    }
}
