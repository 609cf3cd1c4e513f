//! Who an S3 request acts as: s3s checks the SigV4 signature (headers, streaming chunks,
//! presigned URLs) with the secret [`KeyAuth`] opens from the replicated key table; the signed
//! access key names a dfs user, and every operation is then checked against the same per-path
//! grants as the native API. Anonymous requests are refused (`AccessDenied`), unknown keys are
//! `InvalidAccessKeyId`, bad signatures `SignatureDoesNotMatch`.

use std::sync::Arc;

use dfs_core::auth::Caller;
use dfs_core::s3::keys;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{Credentials, S3Auth, SecretKey};
use s3s::{S3ErrorCode, S3Result};

use super::errors::{self, error};
use crate::driver::DriverHandle;

/// Opens access keys' secrets from this node's replica of the key table.
pub struct KeyAuth {
    /// The node's driver.
    pub driver: DriverHandle,
    /// The cluster secret the secrets are sealed under.
    pub cluster_secret: Arc<str>,
}

#[async_trait::async_trait]
impl S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let id = access_key.to_owned();
        let sealed = self
            .driver
            .query(move |node| node.status().namespace.access_key(&id).map(|k| k.sealed.clone()))
            .await
            .map_err(errors::stopped)?;
        let unknown = || error(S3ErrorCode::InvalidAccessKeyId, "no such access key");
        let sealed = sealed.ok_or_else(unknown)?;
        let secret = keys::open(&self.cluster_secret, access_key, &sealed).ok_or_else(unknown)?;
        Ok(SecretKey::from(secret))
    }
}

/// Refuses unsigned requests before anything else runs (the per-path checks come later, in
/// each operation, as for the native API).
pub struct SignedOnly;

#[async_trait::async_trait]
impl S3Access for SignedOnly {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        match cx.credentials() {
            Some(_) => Ok(()),
            None => Err(error(S3ErrorCode::AccessDenied, "anonymous requests are not allowed")),
        }
    }
}

/// The dfs user a verified request acts as.
pub async fn caller(driver: &DriverHandle, credentials: Option<&Credentials>) -> S3Result<Caller> {
    let denied = || error(S3ErrorCode::AccessDenied, "anonymous requests are not allowed");
    let id = credentials.ok_or_else(denied)?.access_key.clone();
    let found = driver
        .query(move |node| {
            let namespace = node.status().namespace;
            let key = namespace.access_key(&id)?;
            let user = namespace.user(&key.user)?;
            Some(Caller { user: key.user.clone(), admin: user.admin })
        })
        .await
        .map_err(errors::stopped)?;
    found.ok_or_else(|| error(S3ErrorCode::InvalidAccessKeyId, "no such access key"))
}
