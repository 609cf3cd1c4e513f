//! HTTP errors (DESIGN §3 "bad input gets a clear error and changes nothing"): every failure is
//! `{"error": {"code": "<stable snake_case>", "message": "<what happened and what to do>"}}` with a
//! status that says whose fault it is.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dfs_core::CommandError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code.
    pub code: Cow<'static, str>,
    /// A sentence for people.
    pub message: String,
    /// More fields of the error object, e.g. `current_version` of a version conflict.
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: Cow::Borrowed(code),
            message: message.into(),
            details: serde_json::Map::new(),
        }
    }

    /// Another node's error answer (`{"error": {...}}` JSON), passed on as it was.
    pub fn relayed(status: StatusCode, body: serde_json::Value) -> Self {
        let field = |name: &str| body["error"][name].as_str().map(str::to_owned);
        let mut details = body["error"].as_object().cloned().unwrap_or_default();
        details.remove("code");
        details.remove("message");
        Self {
            status,
            code: Cow::Owned(field("code").unwrap_or_else(|| "relayed".into())),
            message: field("message").unwrap_or_else(|| body.to_string()),
            details,
        }
    }

    /// The request body could not be read: it stalled (408), or the client went away or sent a
    /// broken encoding (400).
    pub fn body_error(error: axum::Error) -> Self {
        if super::limits::is_stall(&error) {
            return Self::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!("{error}; send the body without long pauses"),
            );
        }
        Self::new(
            StatusCode::BAD_REQUEST,
            "body_error",
            format!("reading the body failed: {error}"),
        )
    }

    /// Another node needed for the answer cannot be reached.
    pub fn unavailable(why: String) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", why)
    }

    /// The node is stopping.
    pub fn stopping() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the node is shutting down; retry on another node",
        )
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        use CommandError as E;
        use StatusCode as S;
        let (status, code) = match &error {
            E::NotLeader { .. } => (S::SERVICE_UNAVAILABLE, "not_leader"),
            E::NoLeader => (S::SERVICE_UNAVAILABLE, "no_leader"),
            E::Timeout => (S::GATEWAY_TIMEOUT, "commit_timeout"),
            E::Overloaded { .. } => (S::SERVICE_UNAVAILABLE, "overloaded"),
            E::InvalidPath(_) => (S::BAD_REQUEST, "invalid_path"),
            E::NotFound { .. } => (S::NOT_FOUND, "not_found"),
            E::AlreadyExists { .. } => (S::CONFLICT, "already_exists"),
            E::VersionConflict { .. } => (S::PRECONDITION_FAILED, "version_conflict"),
            E::IsFolder { .. } => (S::CONFLICT, "is_folder"),
            E::NotAFolder { .. } => (S::CONFLICT, "not_a_folder"),
            E::FolderNotEmpty { .. } => (S::CONFLICT, "folder_not_empty"),
            E::RootImmutable => (S::BAD_REQUEST, "root_immutable"),
            E::VersionNotFound { .. } => (S::NOT_FOUND, "version_not_found"),
            E::Checkpoint { problem, .. } => match problem {
                dfs_core::error::CheckpointProblem::NotFound => {
                    (S::NOT_FOUND, "checkpoint_not_found")
                }
                dfs_core::error::CheckpointProblem::Taken => (S::CONFLICT, "checkpoint_taken"),
                dfs_core::error::CheckpointProblem::InvalidName => {
                    (S::BAD_REQUEST, "invalid_checkpoint_name")
                }
            },
            E::BadContent(_) => (S::BAD_REQUEST, "bad_content"),
            E::UnknownNode { .. } => (S::NOT_FOUND, "unknown_node"),
            E::AlreadyMember { .. } => (S::CONFLICT, "already_member"),
            E::MembershipRefused => (S::CONFLICT, "membership_refused"),
            E::NotDrained { .. } => (S::CONFLICT, "not_drained"),
            E::Removed { .. } => (S::SERVICE_UNAVAILABLE, "removed"),
            E::MembershipChangeInProgress => {
                (S::SERVICE_UNAVAILABLE, "membership_change_in_progress")
            }
            E::MoveIntoItself { .. } => (S::CONFLICT, "move_into_itself"),
            E::Forbidden { .. } => (S::FORBIDDEN, "forbidden"),
            E::AdminOnly { .. } => (S::FORBIDDEN, "admin_only"),
            E::UnknownUser { .. } => (S::NOT_FOUND, "unknown_user"),
            E::UserExists { .. } => (S::CONFLICT, "user_exists"),
            E::InvalidUserName { .. } => (S::BAD_REQUEST, "invalid_user_name"),
            E::LastAdmin { .. } => (S::CONFLICT, "last_admin"),
            E::AlreadyBootstrapped => (S::CONFLICT, "already_bootstrapped"),
            // Retryable: the first leader records the admin within moments.
            E::NotBootstrapped => (S::SERVICE_UNAVAILABLE, "not_bootstrapped"),
            E::IdempotencyKeyReused { .. } => (S::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
            E::InsufficientReplicas { .. } => (S::SERVICE_UNAVAILABLE, "insufficient_replicas"),
            E::NoStorageNodes => (S::SERVICE_UNAVAILABLE, "no_storage_nodes"),
            E::ReadTimeout => (S::GATEWAY_TIMEOUT, "read_timeout"),
            E::Halted { .. } => (S::SERVICE_UNAVAILABLE, "halted"),
            E::UnknownAccessKey { .. } => (S::NOT_FOUND, "unknown_access_key"),
            E::BadAccessKey { .. } => (S::CONFLICT, "bad_access_key"),
            E::BadObjectMeta(_) => (S::BAD_REQUEST, "bad_object_meta"),
            E::BadNodeAddrs(_) => (S::BAD_REQUEST, "bad_node_addrs"),
            E::VersionCheckpointed { .. } => (S::CONFLICT, "version_checkpointed"),
            E::NoDeleteMarker { .. } => (S::NOT_FOUND, "no_delete_marker"),
            E::Multipart(problem) => multipart_status(*problem),
            _ => (S::INTERNAL_SERVER_ERROR, "internal"),
        };
        let mut api = Self::new(status, code, error.to_string());
        if let E::Forbidden { user, path, need } = &error {
            // Clients and scripts can tell which permission is missing without parsing text.
            api.details.insert("user".into(), user.0.clone().into());
            api.details.insert("path".into(), path.as_str().into());
            let need = match need {
                dfs_core::auth::Need::Read => "read",
                dfs_core::auth::Need::Write => "write",
                dfs_core::auth::Need::Manage => "manage",
                dfs_core::auth::Need::Move => "move",
            };
            api.details.insert("need".into(), need.into());
        }
        if let E::VersionConflict { found, expected, .. } = &error {
            // Clients (`dfs edit`, `--if-version`) tell people which version is there now.
            let current = found.map_or(serde_json::Value::Null, |v| v.0.into());
            api.details.insert("current_version".into(), current);
            let expected = match expected {
                dfs_core::command::Precondition::Version(v) => serde_json::json!(v.0),
                dfs_core::command::Precondition::Absent => serde_json::json!("absent"),
                dfs_core::command::Precondition::None => serde_json::Value::Null,
            };
            api.details.insert("expected".into(), expected);
        }
        api
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = self.details;
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.into());
        let body = serde_json::json!({ "error": error });
        (self.status, Json(body)).into_response()
    }
}

/// The status and stable code of a refused multipart operation (S3's code, snake case).
fn multipart_status(
    problem: dfs_core::s3::multipart::MultipartProblem,
) -> (StatusCode, &'static str) {
    use dfs_core::s3::multipart::MultipartProblem as P;
    match problem {
        P::NoSuchUpload => (StatusCode::NOT_FOUND, "no_such_upload"),
        P::InvalidPartNumber => (StatusCode::BAD_REQUEST, "invalid_part_number"),
        P::InvalidPart { .. } | P::PartsChanged => (StatusCode::BAD_REQUEST, "invalid_part"),
        P::InvalidPartOrder => (StatusCode::BAD_REQUEST, "invalid_part_order"),
        P::EntityTooSmall { .. } => (StatusCode::BAD_REQUEST, "entity_too_small"),
        P::NoParts => (StatusCode::BAD_REQUEST, "malformed_xml"),
        P::TooManyUploads => (StatusCode::SERVICE_UNAVAILABLE, "too_many_uploads"),
        P::PartTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
    }
}
