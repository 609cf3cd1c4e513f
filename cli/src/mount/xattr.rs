//! Extended attributes exposing dfs metadata, read-only: `user.dfs.version`, `user.dfs.blake3`
//! and `user.dfs.replicas` (the nodes holding the latest version's chunks, e.g. `1,2,3`).

use std::collections::BTreeSet;
use std::ffi::OsStr;

use nix::errno::Errno;

use super::core::{fail, Core, Res};
use crate::commands::url_path;

/// The attribute names, in `listxattr` order.
pub const NAMES: [&str; 3] = ["user.dfs.version", "user.dfs.blake3", "user.dfs.replicas"];

/// `listxattr`'s answer: NUL-terminated names (none for a folder).
pub fn names_list(folder: bool) -> Vec<u8> {
    if folder {
        return Vec::new();
    }
    NAMES.iter().flat_map(|n| n.bytes().chain([0])).collect()
}

impl Core {
    /// The value of attribute `name` of `ino`.
    pub async fn xattr(&self, ino: u64, name: &OsStr) -> Res<Vec<u8>> {
        let path = self.path(ino)?;
        let name = name.to_str().ok_or(Errno::ENODATA)?;
        if !NAMES.contains(&name) {
            return Err(Errno::ENODATA);
        }
        let remote = self.remote.of(&path);
        let url = url_path(&remote).map_err(|_| Errno::EINVAL)?;
        if url.is_empty() {
            return Err(Errno::ENODATA);
        }
        let stat = self
            .client
            .get_json(&format!("/stat/{url}"))
            .await
            .map_err(|e| fail("getxattr", &remote, &e))?;
        let latest = stat["versions"].as_array().and_then(|v| v.last()).cloned();
        let Some(latest) = latest.filter(|_| stat["kind"] == "file") else {
            return Err(Errno::ENODATA);
        };
        let value = match name {
            "user.dfs.version" => latest["version"].to_string(),
            "user.dfs.blake3" => latest["hash"].as_str().unwrap_or("").to_owned(),
            _ => {
                let nodes: BTreeSet<u64> = latest["chunks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|c| c["replicas"].as_array().cloned().unwrap_or_default())
                    .filter_map(|n| n.as_u64())
                    .collect();
                nodes.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
            }
        };
        Ok(value.into_bytes())
    }

    /// `listxattr` of `ino`.
    pub async fn xattr_names(&self, ino: u64) -> Res<Vec<u8>> {
        let path = self.path(ino)?;
        let meta = self.meta(&path, false).await?.ok_or(Errno::ENOENT)?;
        Ok(names_list(meta.folder))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn files_list_the_three_names_folders_none() {
        let list = super::names_list(false);
        let names: Vec<&[u8]> = list.split(|b| *b == 0).filter(|n| !n.is_empty()).collect();
        assert_eq!(names.len(), 3);
        assert!(list.ends_with(b"user.dfs.replicas\0"));
        assert!(super::names_list(true).is_empty());
    }
}
