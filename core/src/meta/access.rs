//! Who may do what to which path (DESIGN §2 "access control"). Rules:
//! - **Admins** may do everything, everywhere.
//! - **Regions.** A folder owned by someone else than the folder it sits in starts a new
//!   *region* (the root starts one too); the folders below it that have its owner belong to it.
//!   A path's region is that of the nearest folder at or above it, and the region's owner is that
//!   folder's owner. A folder an admin makes for someone (`mkdir --owner`) starts their region;
//!   every other new folder takes the owner of the folder it is created in, so folders never
//!   start a region by accident.
//! - **Owners** may do everything in their region (including changing access lists), down to,
//!   not into, a folder owned by someone else: owning a folder never gives rights over a
//!   subtree below it that belongs to another user. The author of a file's first version owns
//!   that file too (it is still in the folder owner's region). The root's region belongs to the
//!   admins only: its owner name gives nobody rights.
//! - **Grants** are per user and per file or folder: `r` (read a file, list a folder, history,
//!   stat) or `w` (`r` plus put, delete, checkpoint, revert). A grant on a folder covers
//!   everything below it in its region; grants only ever add access, so the strongest one on the
//!   path or a folder above it in its region counts. A grant above a region does not reach into
//!   it (it could be set by someone with no rights there). Changing grants needs ownership
//!   ([`Need::Manage`]).
//! - **Moves** ([`Namespace::check_move`]) need write on the source's parent and on the
//!   target's parent, and ownership ([`Need::Move`]) of everything that moves. **Recursive
//!   deletes** ([`Namespace::check_delete_tree`]) need write on everything they remove.
//! - A path that does not exist yet (the target of a put, mkdir or move) is judged by the folders
//!   above it that do.
//! - Deleted files keep no grants that matter: a put that revives one makes its author the owner.

use super::{Entry, Namespace};
use crate::auth::{Caller, Need};
use crate::command::Access;
use crate::error::CommandError;
use crate::ids::UserName;
use crate::path::Path;

/// How much a user may do to a path, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing.
    None,
    /// Read and list.
    Read,
    /// Read, list, write and delete.
    Write,
    /// Everything, including changing the access list (owner or admin).
    Full,
}

impl Level {
    /// Whether this level covers `need`.
    pub fn allows(self, need: Need) -> bool {
        match need {
            Need::Read => self >= Level::Read,
            Need::Write => self >= Level::Write,
            Need::Manage | Need::Move => self == Level::Full,
        }
    }
}

/// One line of an access list as `dfs acl show` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantLine {
    /// The file or folder the grant or ownership is recorded on (the path itself, or a folder
    /// above it it is inherited from).
    pub on: Path,
    /// The user.
    pub user: UserName,
    /// `None` for an owner line, else the grant.
    pub access: Option<Access>,
}

impl Namespace {
    /// What `caller` may do to `path` (see the module docs).
    pub fn level(&self, caller: &Caller, path: &Path) -> Level {
        if caller.admin {
            return Level::Full;
        }
        // The path and the existing folders (and files) above it, nearest first.
        let chain: Vec<(&Path, &Entry)> = std::iter::once(path)
            .chain(path.ancestors().iter().rev())
            .filter_map(|at| self.entries.get_key_value(at))
            .collect();
        if chain.first().is_some_and(|(at, entry)| {
            *at == path && !entry.is_folder() && entry.owner == caller.user
        }) {
            return Level::Full;
        }
        let Some(region_owner) =
            chain.iter().find(|(_, entry)| entry.is_folder()).map(|(_, entry)| &entry.owner)
        else {
            return Level::None;
        };
        let mut level = Level::None;
        let mut root_region = true;
        for (_, entry) in &chain {
            if entry.is_folder() && entry.owner != *region_owner {
                // Above the region: nothing set there applies to the path.
                root_region = false;
                break;
            }
            let granted = match entry.grants.get(&caller.user) {
                Some(Access::Write) => Level::Write,
                Some(Access::Read) => Level::Read,
                None => Level::None,
            };
            level = level.max(granted);
        }
        // The walk reached the root without leaving the region: the root's region is the
        // admins' whatever name owns the root.
        if *region_owner == caller.user && !root_region {
            return Level::Full;
        }
        level
    }

    /// The first path of `paths` on which `caller` lacks `need`, as a `Forbidden`.
    fn check_all<'a>(
        &self,
        caller: &Caller,
        paths: impl IntoIterator<Item = (&'a Path, &'a Entry)>,
        need: Need,
    ) -> Result<(), CommandError> {
        for (at, entry) in paths {
            // An entry's own owner has every right on it (see `level`); only the others cost a
            // walk up the tree.
            if entry.owner != caller.user || entry.is_folder() {
                self.check_access(caller, at, need)?;
            }
        }
        Ok(())
    }

    /// Whether `caller` may move `from` to `to`: write on both parents and ownership of `from`
    /// and everything under it. A refusal names the first path that is missing a permission.
    /// The root is `RootImmutable`; a missing source is left to the move itself (`NotFound`).
    pub fn check_move(&self, caller: &Caller, from: &Path, to: &Path) -> Result<(), CommandError> {
        let (Some(source_parent), Some(target_parent)) = (from.parent(), to.parent()) else {
            return Err(CommandError::RootImmutable);
        };
        if caller.admin {
            return Ok(());
        }
        self.check_access(caller, &source_parent, Need::Write)?;
        self.check_access(caller, &target_parent, Need::Write)?;
        self.check_all(caller, self.subtree_entries(from), Need::Move)
    }

    /// Whether `caller` may delete `path` with everything under it: write on each of them. A
    /// refusal names the first path that is missing it. The root is `RootImmutable`.
    pub fn check_delete_tree(&self, caller: &Caller, path: &Path) -> Result<(), CommandError> {
        if path.is_root() {
            return Err(CommandError::RootImmutable);
        }
        if caller.admin {
            return Ok(());
        }
        self.check_access(caller, path, Need::Write)?;
        self.check_all(caller, self.subtree_entries(path), Need::Write)
    }

    /// `Ok` when `caller` has `need` on `path`, else `Forbidden` naming both.
    pub fn check_access(
        &self,
        caller: &Caller,
        path: &Path,
        need: Need,
    ) -> Result<(), CommandError> {
        if self.level(caller, path).allows(need) {
            return Ok(());
        }
        Err(CommandError::Forbidden { user: caller.user.clone(), path: path.clone(), need })
    }

    /// The owners and grants that apply to `path`, from the top of its region (see the module
    /// docs) down to it: each folder's owner and grants (inherited) and the path's own. Folders
    /// above the region are left out: nothing set there applies. `NotFound` when nothing live is
    /// there.
    pub fn access_list(&self, path: &Path) -> Result<Vec<GrantLine>, CommandError> {
        if !self.entries.get(path).is_some_and(super::Entry::is_live) {
            return Err(CommandError::NotFound { path: path.clone() });
        }
        let region_owner = self.region_owner(path);
        let mut chain = path.ancestors();
        chain.push(path.clone());
        let mut lines = Vec::new();
        for at in chain.into_iter().rev() {
            let Some(entry) = self.entries.get(&at) else { continue };
            if entry.is_folder() && entry.owner != region_owner {
                break;
            }
            for (user, access) in entry.grants.iter().rev() {
                lines.push(GrantLine { on: at.clone(), user: user.clone(), access: Some(*access) });
            }
            lines.push(GrantLine { on: at, user: entry.owner.clone(), access: None });
        }
        lines.reverse();
        Ok(lines)
    }
}
