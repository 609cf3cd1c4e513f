//! `dfs user add|list|rm`, `dfs acl add|rm|show` and `dfs whoami` (DESIGN §2 "access control").
//! Users are managed by admins; access lists by the owner of a path (or of a folder above it)
//! and admins.

use serde_json::json;

use crate::client::{json_or_error, Client};
use crate::commands::{print, query, url_path};

/// What `dfs user` does.
#[derive(Debug, clap::Subcommand)]
pub enum UserAction {
    /// Create a user and print its token (shown once; the cluster keeps only a salted hash).
    Add {
        /// The name: 1 to 32 of a-z 0-9 _ -.
        name: String,
        /// Make the user an admin (full access, cluster operations, user management).
        #[arg(long)]
        admin: bool,
    },
    /// List the users.
    List,
    /// Remove a user: its token stops working and its grants go (its name is never reused).
    Rm {
        /// The user.
        name: String,
    },
}

/// What `dfs acl` does.
#[derive(Debug, clap::Subcommand)]
pub enum AclAction {
    /// Grant USER read (r) or write (w, implies read) access to PATH and everything below it.
    Add {
        /// The file or folder.
        path: String,
        /// The user.
        user: String,
        /// r or w.
        access: String,
    },
    /// Revoke USER's grant on PATH (grants on folders above it stay).
    Rm {
        /// The file or folder.
        path: String,
        /// The user.
        user: String,
    },
    /// Show PATH's owner, its own grants and those inherited from the folders above it.
    Show {
        /// The file or folder.
        path: String,
    },
}

/// Runs `dfs user ACTION`.
pub async fn user(client: &Client, action: UserAction, json: bool) -> anyhow::Result<()> {
    match action {
        UserAction::Add { name, admin } => {
            let body = json!({ "name": name, "admin": admin });
            let response =
                client.send(|http, node| http.post(format!("{node}/users")).json(&body)).await?;
            let value = json_or_error(response).await?;
            print(json, &value, |out| {
                let role = if admin { "admin" } else { "user" };
                writeln!(out, "created {role} {name}; its token (shown only now):")?;
                writeln!(out, "{}", value["token"].as_str().unwrap_or("?"))
            })
        }
        UserAction::List => {
            let value = client.get_json("/users").await?;
            print(json, &value, |out| {
                for user in value["users"].as_array().into_iter().flatten() {
                    let admin = if user["admin"].as_bool() == Some(true) { "admin" } else { "" };
                    writeln!(out, "{:<32} {admin}", user["name"].as_str().unwrap_or("?"))?;
                }
                Ok(())
            })
        }
        UserAction::Rm { name } => {
            let url = format!(
                "/users/{}",
                dfs_runtime::http::url_segment(&name)
                    .map_err(|e| anyhow::anyhow!("invalid user name {name:?}: {e}"))?
            );
            let response = client.send(|http, node| http.delete(format!("{node}{url}"))).await?;
            let value = json_or_error(response).await?;
            print(json, &value, |out| {
                let grants = value["grants_removed"].as_u64().unwrap_or(0);
                writeln!(out, "removed user {name} ({grants} grant(s) dropped)")
            })
        }
    }
}

/// Runs `dfs acl ACTION`.
pub async fn acl(client: &Client, action: AclAction, json: bool) -> anyhow::Result<()> {
    match action {
        AclAction::Add { path, user, access } => {
            let url = format!(
                "/acl/{}{}",
                url_path(&path)?,
                query(&[("user", &user), ("access", &access)])
            );
            let response = client.send(|http, node| http.post(format!("{node}{url}"))).await?;
            let value = json_or_error(response).await?;
            print(json, &value, |out| writeln!(out, "granted {user} {access} on {path}"))
        }
        AclAction::Rm { path, user } => {
            let url = format!("/acl/{}{}", url_path(&path)?, query(&[("user", &user)]));
            let response = client.send(|http, node| http.delete(format!("{node}{url}"))).await?;
            let value = json_or_error(response).await?;
            print(json, &value, |out| writeln!(out, "revoked {user}'s grant on {path}"))
        }
        AclAction::Show { path } => {
            let value = client.get_json(&format!("/acl/{}", url_path(&path)?)).await?;
            print(json, &value, |out| {
                writeln!(out, "{path}")?;
                writeln!(out, "  owner  {}", value["owner"].as_str().unwrap_or("?"))?;
                for grant in value["grants"].as_array().into_iter().flatten() {
                    let (user, access) = (grant["user"].as_str(), grant["access"].as_str());
                    writeln!(out, "  {:<6} {}", access.unwrap_or("?"), user.unwrap_or("?"))?;
                }
                let inherited = value["inherited"].as_array().cloned().unwrap_or_default();
                if !inherited.is_empty() {
                    writeln!(out, "inherited:")?;
                }
                for line in inherited {
                    let access = line["access"].as_str().unwrap_or("?");
                    let user = line["user"].as_str().unwrap_or("?");
                    let from = line["from"].as_str().unwrap_or("?");
                    writeln!(out, "  {access:<6} {user:<32} from {from}")?;
                }
                Ok(())
            })
        }
    }
}

/// Runs `dfs whoami`: the user the token proves and whether it is an admin.
pub async fn whoami(client: &Client, json: bool) -> anyhow::Result<()> {
    let value = client.get_json("/whoami").await?;
    print(json, &value, |out| {
        let admin = if value["admin"].as_bool() == Some(true) { " (admin)" } else { "" };
        writeln!(out, "{}{admin}", value["user"].as_str().unwrap_or("?"))
    })
}
