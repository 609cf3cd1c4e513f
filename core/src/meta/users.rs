//! The replicated user table (DESIGN §2 "access control"): who may authenticate, with which
//! token credential, and who is an admin. Rules:
//! - A name is used once: a removed user keeps its record (marked removed, its token refused), so
//!   a new user never inherits the files a removed one owned.
//! - `RemoveUser` drops every grant naming the user; it is refused for the last admin, so the
//!   cluster can always be administered.
//! - `BootstrapAdmin` applies only to an empty table: every founding node may race to record its
//!   configured admin token, and the first one committed wins on every replica. `AddUser` is
//!   refused on an empty table, so the configured admin is always the first user (a user added
//!   by the bootstrap token before it was recorded would otherwise lock the admin out).

use serde::{Deserialize, Serialize};

use super::Namespace;
use crate::auth::{Caller, Credential, Token};
use crate::command::Change;
use crate::error::CommandError;
use crate::ids::UserName;

/// A user as the namespace records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Salt and digest of its token's secret.
    pub credential: Credential,
    /// Admins have full access everywhere and run cluster operations.
    pub admin: bool,
    /// A removed user cannot authenticate; its name stays taken.
    pub removed: bool,
}

impl Namespace {
    /// The user named `name`, if it exists and is not removed.
    pub fn user(&self, name: &UserName) -> Option<&User> {
        self.users.get(name).filter(|user| !user.removed)
    }

    /// Every current (not removed) user, by name.
    pub fn users(&self) -> impl Iterator<Item = (&UserName, &User)> + '_ {
        self.users.iter().filter(|(_, user)| !user.removed)
    }

    /// Whether no user was ever recorded (before the first admin is bootstrapped).
    pub fn has_no_users(&self) -> bool {
        self.users.is_empty()
    }

    /// The caller a bearer token proves, if it names a current user and its secret matches.
    pub fn authenticate(&self, token: &Token) -> Option<Caller> {
        let user = self.user(&token.user)?;
        user.credential
            .matches(token.secret())
            .then(|| Caller { user: token.user.clone(), admin: user.admin })
    }

    /// `AddUser`: a valid, never used name.
    pub(super) fn add_user(
        &mut self,
        name: &UserName,
        credential: Credential,
        admin: bool,
    ) -> Result<Change, CommandError> {
        if self.users.is_empty() {
            return Err(CommandError::NotBootstrapped);
        }
        if UserName::parse(&name.0).is_none() {
            return Err(CommandError::InvalidUserName { name: name.0.clone() });
        }
        if self.users.contains_key(name) {
            return Err(CommandError::UserExists { user: name.clone() });
        }
        self.insert_user(name, credential, admin)
    }

    /// Records a new user (the checks are done).
    fn insert_user(
        &mut self,
        name: &UserName,
        credential: Credential,
        admin: bool,
    ) -> Result<Change, CommandError> {
        self.users.insert(name.clone(), User { credential, admin, removed: false });
        Ok(Change::UserAdded { user: name.clone(), admin })
    }

    /// `BootstrapAdmin`: the first admin, only into an empty table.
    pub(super) fn bootstrap_admin(
        &mut self,
        name: &UserName,
        credential: Credential,
    ) -> Result<Change, CommandError> {
        if !self.users.is_empty() {
            return Err(CommandError::AlreadyBootstrapped);
        }
        if UserName::parse(&name.0).is_none() {
            return Err(CommandError::InvalidUserName { name: name.0.clone() });
        }
        self.insert_user(name, credential, true)
    }

    /// `RemoveUser`: marks the user removed and drops its grants; never the last admin.
    pub(super) fn remove_user(&mut self, name: &UserName) -> Result<Change, CommandError> {
        let Some(user) = self.user(name) else {
            return Err(CommandError::UnknownUser { user: name.clone() });
        };
        if user.admin && self.users().filter(|(_, u)| u.admin).count() == 1 {
            return Err(CommandError::LastAdmin { user: name.clone() });
        }
        let mut grants_removed = 0;
        for entry in self.entries.values_mut() {
            grants_removed += u64::from(entry.grants.remove(name).is_some());
        }
        if let Some(user) = self.users.get_mut(name) {
            user.removed = true;
        }
        Ok(Change::UserRemoved { user: name.clone(), grants_removed })
    }
}
