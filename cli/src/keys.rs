//! `dfs key create|list|rm`: S3 access keys (docs/s3.md). A key acts as a dfs user, with that
//! user's grants; its secret is printed once.

use crate::client::{json_or_error, Client};
use crate::commands::print;

/// What `dfs key` does.
#[derive(Debug, clap::Subcommand)]
pub enum KeyAction {
    /// Create an S3 access key and print its id and secret (the secret is shown only now).
    Create {
        /// The user the key acts as (admins only; default: you).
        #[arg(long)]
        user: Option<String>,
    },
    /// List access keys (yours; an admin's: every key), without secrets.
    List,
    /// Remove an access key: requests signed with it are refused from then on.
    Rm {
        /// The key's id.
        id: String,
    },
}

/// Runs `dfs key ACTION`.
pub async fn key(client: &Client, action: KeyAction, json: bool) -> anyhow::Result<()> {
    match action {
        KeyAction::Create { user } => {
            let query = match &user {
                Some(user) => format!(
                    "?user={}",
                    dfs_runtime::http::url_segment(user)
                        .map_err(|e| anyhow::anyhow!("invalid user name {user:?}: {e}"))?
                ),
                None => String::new(),
            };
            let response =
                client.send(|http, node| http.post(format!("{node}/keys{query}"))).await?;
            let value = json_or_error(response).await?;
            print(json, &value, |out| {
                let user = value["user"].as_str().unwrap_or("?");
                writeln!(out, "access key for {user} (the secret is shown only now):")?;
                writeln!(out, "AWS_ACCESS_KEY_ID={}", value["id"].as_str().unwrap_or("?"))?;
                writeln!(out, "AWS_SECRET_ACCESS_KEY={}", value["secret"].as_str().unwrap_or("?"))
            })
        }
        KeyAction::List => {
            let value = client.get_json("/keys").await?;
            print(json, &value, |out| {
                for key in value["keys"].as_array().into_iter().flatten() {
                    let id = key["id"].as_str().unwrap_or("?");
                    writeln!(out, "{id:<22} {}", key["user"].as_str().unwrap_or("?"))?;
                }
                Ok(())
            })
        }
        KeyAction::Rm { id } => {
            if !dfs_runtime::core::s3::keys::is_valid_id(&id) {
                anyhow::bail!("{id:?} is not an access key id (DFS and 17 letters or digits)");
            }
            let response =
                client.send(|http, node| http.delete(format!("{node}/keys/{id}"))).await?;
            let value = json_or_error(response).await?;
            print(json, &value, |out| writeln!(out, "removed access key {id}"))
        }
    }
}
