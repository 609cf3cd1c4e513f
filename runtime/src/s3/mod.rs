//! The S3-compatible listener (issue 18, docs/s3.md): every node with an `[s3]` table serves
//! the S3 API on its own port, over the same namespace as the native API. Buckets are
//! top-level folders and keys are the paths below them (the rules are `dfs_core::s3`). s3s
//! parses requests, checks SigV4 and writes the XML; each operation here calls the same
//! in-process read and write paths as the native handlers (the driver, the upload machine,
//! the chunk fetcher), never the HTTP API.

mod auth;
mod buckets;
mod copy;
mod deletes;
mod errors;
mod list;
mod multipart;
mod multipart_list;
mod objects;
pub mod sign;
mod versions;

use std::sync::Arc;

use axum::Router;
use dfs_core::auth::{Caller, Need};
use dfs_core::s3::names;
use dfs_core::Path;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{S3Request, S3Response, S3Result};

use crate::config::S3Config;
use crate::http::ApiState;

/// The S3 implementation: the node's API state and the region it reports.
#[derive(Clone)]
pub struct Dfs {
    api: ApiState,
    region: String,
}

/// The S3 listener's router (served by the same connection loop as the HTTP API, so TLS and
/// the connection limits apply), answering with `api`'s node.
pub fn router(api: ApiState, config: &S3Config, cluster_secret: &str) -> Router {
    let driver = api.driver.clone();
    let dfs = Dfs { api, region: config.region.clone() };
    let mut builder = S3ServiceBuilder::new(dfs);
    builder.set_auth(auth::KeyAuth { driver, cluster_secret: Arc::from(cluster_secret) });
    builder.set_access(auth::SignedOnly);
    if let Some(domain) = &config.domain {
        if let Ok(host) = s3s::host::SingleDomain::new(domain) {
            builder.set_host(host);
        }
    }
    let service = builder.build();
    let service = axum::error_handling::HandleError::new(service, internal_error);
    Router::new().fallback_service(service)
}

async fn internal_error(error: s3s::HttpError) -> axum::response::Response {
    use axum::response::IntoResponse;
    tracing::warn!(?error, "s3 request failed below the S3 layer");
    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

impl Dfs {
    /// The dfs user the request's access key belongs to.
    async fn caller<T>(&self, req: &S3Request<T>) -> S3Result<Caller> {
        auth::caller(&self.api.driver, req.credentials.as_ref()).await
    }

    /// Waits until this node reflects every acknowledged write (reads are linearizable).
    async fn linearize(&self) -> S3Result<()> {
        crate::http::linearize(&self.api, crate::http::Freshness::default())
            .await
            .map_err(errors::api)
    }

    /// `caller` may do `need` at `path` (the native API's check).
    async fn check(&self, caller: &Caller, path: &Path, need: Need) -> S3Result<()> {
        crate::http::auth::check(&self.api, caller, path, need).await.map_err(errors::api)
    }

    /// The folder of an existing bucket `name` that `caller` may `need` (S3's errors
    /// otherwise: `InvalidBucketName`, `NoSuchBucket`, `AccessDenied`).
    async fn bucket(&self, caller: &Caller, name: &str, need: Need) -> S3Result<Path> {
        let path = names::bucket_path(name).map_err(errors::bucket_name)?;
        let at = path.clone();
        let exists = self
            .api
            .driver
            .query(move |node| node.status().namespace.entry(&at).is_some_and(|e| e.is_folder()))
            .await
            .map_err(errors::stopped)?;
        if !exists {
            return Err(errors::no_bucket(name));
        }
        self.check(caller, &path, need).await?;
        Ok(path)
    }

    /// The path of `key` in the bucket `name`, which must exist and allow `need`.
    async fn object(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        need: Need,
    ) -> S3Result<(Path, Path)> {
        let bucket_path = self.bucket(caller, bucket, Need::Read).await?;
        let path = names::object_path(&bucket_path, key).map_err(errors::key)?;
        self.check(caller, &path, need).await?;
        Ok((bucket_path, path))
    }
}

#[async_trait::async_trait]
impl s3s::S3 for Dfs {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        buckets::create(self, req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        buckets::delete(self, req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        buckets::head(self, req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        buckets::list(self, req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        buckets::location(self, req).await
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        buckets::versioning(self, req).await
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        buckets::put_versioning(self, req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        versions::list(self, req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        objects::put(self, req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        copy::copy(self, req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        objects::get(self, req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        objects::head(self, req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        deletes::delete(self, req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        deletes::delete_many(self, req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        list::v2(self, req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        list::v1(self, req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart::create(self, req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        multipart::upload_part(self, req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        multipart::upload_part_copy(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        multipart::complete(self, req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart::abort(self, req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        multipart_list::list_parts(self, req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        multipart_list::list_uploads(self, req).await
    }
}
