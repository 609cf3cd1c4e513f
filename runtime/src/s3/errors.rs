//! dfs errors as S3 errors: every failure answers S3's error XML (s3s writes it) with the code
//! and status clients expect; anything without an S3 equivalent is an `InternalError`, never a
//! success.

use dfs_core::s3::names::{BucketNameError, KeyError};
use dfs_core::CommandError;
use s3s::{s3_error, S3Error, S3ErrorCode};

use crate::http::ApiError;

/// `code` with `message`.
pub fn error(code: S3ErrorCode, message: impl Into<String>) -> S3Error {
    S3Error::with_message(code, message.into())
}

/// A refused bucket name.
pub fn bucket_name(error: BucketNameError) -> S3Error {
    self::error(S3ErrorCode::InvalidBucketName, error.to_string())
}

/// A key dfs cannot represent.
pub fn key(error: KeyError) -> S3Error {
    let code = match error {
        KeyError::Path(dfs_core::path::PathError::TooLong) => S3ErrorCode::KeyTooLongError,
        _ => S3ErrorCode::InvalidArgument,
    };
    self::error(code, format!("{error}; dfs stores keys as paths and cannot keep this one"))
}

/// The node is stopping.
pub fn stopping() -> S3Error {
    error(S3ErrorCode::ServiceUnavailable, "the node is shutting down; retry on another node")
}

/// A dfs error from a handler or the write path, by its stable code.
pub fn api(error: ApiError) -> S3Error {
    let code = match error.code.as_ref() {
        "not_found" => S3ErrorCode::NoSuchKey,
        "version_not_found" => S3ErrorCode::NoSuchVersion,
        "forbidden" | "admin_only" => S3ErrorCode::AccessDenied,
        "version_conflict" => S3ErrorCode::PreconditionFailed,
        "body_too_large" => S3ErrorCode::EntityTooLarge,
        "body_timeout" => S3ErrorCode::RequestTimeout,
        "body_error" => S3ErrorCode::IncompleteBody,
        "rate_limited" | "too_many_uploads" => S3ErrorCode::SlowDown,
        "no_such_upload" => S3ErrorCode::NoSuchUpload,
        "invalid_part" => S3ErrorCode::InvalidPart,
        "invalid_part_order" => S3ErrorCode::InvalidPartOrder,
        "entity_too_small" => S3ErrorCode::EntityTooSmall,
        "malformed_xml" => S3ErrorCode::MalformedXML,
        "invalid_part_number" => S3ErrorCode::InvalidArgument,
        "invalid_path" | "not_a_folder" | "is_folder" | "bad_content" => {
            S3ErrorCode::InvalidArgument
        }
        "not_leader"
        | "no_leader"
        | "overloaded"
        | "removed"
        | "insufficient_replicas"
        | "no_storage_nodes"
        | "halted"
        | "stopping"
        | "unavailable"
        | "not_bootstrapped"
        | "membership_change_in_progress"
        | "read_timeout"
        | "commit_timeout" => S3ErrorCode::ServiceUnavailable,
        _ => S3ErrorCode::InternalError,
    };
    let mut s3 = self::error(code, error.message);
    if error.code == "not_a_folder" || error.code == "is_folder" {
        // A key under another object (`a/b` beside `a`), or an object where keys are nested.
        s3.set_status_code(axum::http::StatusCode::CONFLICT);
    }
    s3
}

/// A core refusal.
pub fn command(error: CommandError) -> S3Error {
    api(ApiError::from(error))
}

/// What `driver.query` answers when the node stops.
pub fn stopped<T>(_: T) -> S3Error {
    stopping()
}

/// No such bucket.
pub fn no_bucket(name: &str) -> S3Error {
    error(S3ErrorCode::NoSuchBucket, format!("bucket {name:?} does not exist"))
}

/// No such key.
pub fn no_key(key: &str) -> S3Error {
    error(S3ErrorCode::NoSuchKey, format!("no object {key:?}"))
}

/// An operation dfs does not support.
pub fn not_implemented(what: &str) -> S3Error {
    let mut e = s3_error!(NotImplemented);
    e.set_message(format!("{what} is not supported by dfs (see docs/s3.md)"));
    e
}
