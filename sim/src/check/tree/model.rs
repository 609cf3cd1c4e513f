//! The folder tree as a small sequential file system: what each tree operation does, with the
//! namespace's rules (core `meta/apply.rs`, `meta/tree.rs`, `meta/query.rs`), checked in the
//! same order so a refusal names the same reason:
//!
//! - create folder: `mkdir -p`; `not_a_folder` if a parent is a file, `already_exists` if
//!   anything is at the path.
//! - put: creates missing parents; `not_a_folder` if a parent is a file, `is_folder` on a folder.
//! - read: a file's content; `is_folder`, or `not_found`.
//! - list: a folder's children; `not_a_folder` on a file, or `not_found`.
//! - move: `not_found` without a source, `move_into_itself` if the target is the source or inside
//!   it, `not_a_folder` if a parent of the target is a file, `already_exists` if anything is at
//!   the target; creates the target's missing parents and re-keys the source's whole subtree.
//! - recursive delete: a file, or a folder with everything under it; `not_found`.
//! - delete: a file, or an empty folder (`folder_not_empty`); `not_found`.
//!
//! Only live entries are modelled: deleted files (tombstones) are invisible to every one of these
//! operations, and version numbers are left out (contents tell writes apart).

use std::collections::BTreeMap;

use crate::history::Refusal;

/// A content hash, numbered (states stay small to copy and to hash).
pub type ContentId = u32;

/// What is at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    /// A folder.
    Folder,
    /// A file with this content.
    File(ContentId),
}

/// The live entries at and under the tree's root, by absolute path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Fs {
    entries: BTreeMap<String, Node>,
}

impl Fs {
    /// A tree holding exactly `entries` (for tests).
    pub fn of(entries: &[(&str, Node)]) -> Self {
        Self { entries: entries.iter().map(|(path, node)| ((*path).to_owned(), *node)).collect() }
    }

    /// Every entry, in path order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Node)> {
        self.entries.iter().map(|(path, node)| (path.as_str(), *node))
    }
}

/// A tree operation in the model's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Action {
    CreateFolder(String),
    Put(String, ContentId),
    Read(String),
    List(String),
    Move { from: String, to: String },
    DeleteRecursive(String),
    Delete(String),
}

/// What an action does from a state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It changes the tree into this.
    Changed(Fs),
    /// It is refused; nothing changes.
    Refused(Refusal),
    /// A read sees this content.
    File(ContentId),
    /// A listing sees these children (name and kind, in name order).
    Listing(Vec<(String, Node)>),
}

/// The rules, for a tree rooted at `root`. Folders above the root always exist (nothing the
/// workload does there can remove them).
#[derive(Clone, Debug)]
pub struct Tree {
    root: String,
}

impl Tree {
    /// The model of the tree at `root` (an absolute path).
    pub fn new(root: &str) -> Self {
        Self { root: root.to_owned() }
    }

    /// What `action` does from `fs`.
    pub fn answer(&self, fs: &Fs, action: &Action) -> Outcome {
        match self.apply(fs, action) {
            Ok(outcome) => outcome,
            Err(refusal) => Outcome::Refused(refusal),
        }
    }

    fn apply(&self, fs: &Fs, action: &Action) -> Result<Outcome, Refusal> {
        let at = |path: &str| fs.entries.get(path).copied();
        match action {
            Action::CreateFolder(path) => {
                let mut missing = self.missing_parents(fs, path)?;
                if at(path).is_some() {
                    return Err(Refusal::AlreadyExists);
                }
                missing.push(path.clone());
                Ok(Outcome::Changed(with_folders(fs, missing)))
            }
            Action::Put(path, content) => {
                let missing = self.missing_parents(fs, path)?;
                if at(path) == Some(Node::Folder) {
                    return Err(Refusal::IsFolder);
                }
                let mut next = with_folders(fs, missing);
                next.entries.insert(path.clone(), Node::File(*content));
                Ok(Outcome::Changed(next))
            }
            Action::Read(path) => match at(path) {
                Some(Node::File(content)) => Ok(Outcome::File(content)),
                Some(Node::Folder) => Err(Refusal::IsFolder),
                None => Err(Refusal::NotFound),
            },
            Action::List(path) => match at(path) {
                Some(Node::Folder) => Ok(Outcome::Listing(children(fs, path))),
                Some(Node::File(_)) => Err(Refusal::NotAFolder),
                None => Err(Refusal::NotFound),
            },
            Action::Move { from, to } => self.moved(fs, from, to),
            Action::DeleteRecursive(path) => match at(path) {
                Some(_) => Ok(Outcome::Changed(without_subtree(fs, path))),
                None => Err(Refusal::NotFound),
            },
            Action::Delete(path) => match at(path) {
                Some(Node::Folder) if !children(fs, path).is_empty() => {
                    Err(Refusal::FolderNotEmpty)
                }
                Some(_) => {
                    let mut next = fs.clone();
                    next.entries.remove(path);
                    Ok(Outcome::Changed(next))
                }
                None => Err(Refusal::NotFound),
            },
        }
    }

    /// `Move`: the source's whole subtree re-keyed under the target.
    fn moved(&self, fs: &Fs, from: &str, to: &str) -> Result<Outcome, Refusal> {
        if !fs.entries.contains_key(from) {
            return Err(Refusal::NotFound);
        }
        if within(to, from) {
            return Err(Refusal::MoveIntoItself);
        }
        let missing = self.missing_parents(fs, to)?;
        if fs.entries.contains_key(to) {
            return Err(Refusal::AlreadyExists);
        }
        let mut next = with_folders(fs, missing);
        let moving: Vec<(String, Node)> = fs
            .entries
            .iter()
            .filter(|(path, _)| within(path, from))
            .map(|(path, node)| (path.clone(), *node))
            .collect();
        for (old, node) in moving {
            next.entries.remove(&old);
            next.entries.insert(format!("{to}{}", &old[from.len()..]), node);
        }
        Ok(Outcome::Changed(next))
    }

    /// The parents of `path` (outermost first) that must become folders, as core's
    /// `missing_ancestors`: absent ones; a file on the way is `not_a_folder`.
    fn missing_parents(&self, fs: &Fs, path: &str) -> Result<Vec<String>, Refusal> {
        let mut missing = Vec::new();
        for parent in parents(path) {
            if !within(&parent, &self.root) {
                continue;
            }
            match fs.entries.get(&parent) {
                Some(Node::Folder) => {}
                Some(Node::File(_)) => return Err(Refusal::NotAFolder),
                None => missing.push(parent),
            }
        }
        Ok(missing)
    }
}

/// Whether `path` is `folder` or lies inside it.
fn within(path: &str, folder: &str) -> bool {
    path.strip_prefix(folder).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The proper parents of an absolute path, outermost first (`/` left out).
fn parents(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = path;
    while let Some((parent, _)) = cursor.rsplit_once('/') {
        if parent.is_empty() {
            break;
        }
        out.push(parent.to_owned());
        cursor = parent;
    }
    out.reverse();
    out
}

/// `fs` with folders at `paths`.
fn with_folders(fs: &Fs, paths: Vec<String>) -> Fs {
    let mut next = fs.clone();
    next.entries.extend(paths.into_iter().map(|path| (path, Node::Folder)));
    next
}

/// `fs` without `path` and everything under it.
fn without_subtree(fs: &Fs, path: &str) -> Fs {
    let mut next = fs.clone();
    next.entries.retain(|entry, _| !within(entry, path));
    next
}

/// The direct children of the folder `path`: name and kind, in name order.
fn children(fs: &Fs, path: &str) -> Vec<(String, Node)> {
    let prefix = format!("{path}/");
    let mut children: Vec<(String, Node)> = fs
        .entries
        .range(prefix.clone()..)
        .take_while(|(entry, _)| entry.starts_with(&prefix))
        .filter_map(|(entry, node)| {
            let name = &entry[prefix.len()..];
            (!name.contains('/')).then(|| (name.to_owned(), *node))
        })
        .collect();
    children.sort();
    children
}
