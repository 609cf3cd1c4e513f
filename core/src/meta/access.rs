//! Who may do what to which path (DESIGN §2 "access control"). Rules:
//! - **Admins** may do everything, everywhere.
//! - **Owners** (the creator of a folder, the author of a file's first version) may do everything
//!   to their entry and everything below it, including changing its access list.
//! - **Grants** are per user and per file or folder: `r` (read a file, list a folder, history,
//!   stat) or `w` (`r` plus put, delete, move, checkpoint, revert). A grant on a folder covers
//!   everything below it; grants only ever add access, so the strongest one on the path or any
//!   folder above it counts. Changing grants needs ownership ([`Need::Manage`]).
//! - A path that does not exist yet (the target of a put, mkdir or move) is judged by the folders
//!   above it that do.
//! - Deleted files keep no grants that matter: a put that revives one makes its author the owner.

use super::Namespace;
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
            Need::Manage => self == Level::Full,
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
        let mut level = Level::None;
        // The path first: an owner match there ends the walk soonest.
        for at in std::iter::once(path.clone()).chain(path.ancestors().into_iter().rev()) {
            let Some(entry) = self.entries.get(&at) else { continue };
            if entry.owner == caller.user {
                return Level::Full;
            }
            let granted = match entry.grants.get(&caller.user) {
                Some(Access::Write) => Level::Write,
                Some(Access::Read) => Level::Read,
                None => Level::None,
            };
            level = level.max(granted);
        }
        level
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

    /// The owners and grants that apply to `path`, from the root down to it: each folder's
    /// owner and grants (inherited) and the path's own. `NotFound` when nothing live is there.
    pub fn access_list(&self, path: &Path) -> Result<Vec<GrantLine>, CommandError> {
        if !self.entries.get(path).is_some_and(super::Entry::is_live) {
            return Err(CommandError::NotFound { path: path.clone() });
        }
        let mut chain = path.ancestors();
        chain.push(path.clone());
        let mut lines = Vec::new();
        for at in chain {
            let Some(entry) = self.entries.get(&at) else { continue };
            lines.push(GrantLine { on: at.clone(), user: entry.owner.clone(), access: None });
            for (user, access) in &entry.grants {
                lines.push(GrantLine { on: at.clone(), user: user.clone(), access: Some(*access) });
            }
        }
        Ok(lines)
    }
}
