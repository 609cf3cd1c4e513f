//! Recording the first admin (DESIGN §2 "access control"): a node that is the raft leader of a
//! cluster with no users proposes `BootstrapAdmin` with its configured admin token's name and a
//! salted digest of its secret. Only the first such command committed applies (core refuses the
//! rest), so racing leaders are harmless. Until it commits, each node accepts its own configured
//! token as an admin (`http::auth`), so there is no window in which nobody can log in.

use std::time::Duration;

use dfs_core::auth::{Credential, Token};
use dfs_core::command::Command;
use dfs_core::output::Role;
use rand::RngCore;
use tokio_util::sync::CancellationToken;

use crate::driver::DriverHandle;

/// How often the node looks whether it must (still) record the first admin.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// The command recording `token`'s user as the first admin, with a fresh salt.
pub fn command(token: &Token) -> Command {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let credential = Credential::derive(salt, token.secret());
    Command::BootstrapAdmin { user: token.user.clone(), credential }
}

/// Until the user table is not empty: whenever this node leads, proposes the first admin.
pub async fn run(driver: DriverHandle, token: Token, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let look = driver.query(|node| {
            let status = node.status();
            (status.namespace.has_no_users(), status.role == Role::Leader)
        });
        let Ok((empty, leading)) = look.await else { return };
        if !empty {
            return;
        }
        if !leading {
            continue;
        }
        match driver.submit(command(&token)).await {
            Ok(Ok(_)) => {
                tracing::info!(user = %token.user, "first admin recorded from the configured admin token");
                return;
            }
            Ok(Err(error)) => tracing::debug!(%error, "first admin not recorded yet"),
            Err(_) => return,
        }
    }
}
