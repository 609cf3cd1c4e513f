//! Extractors and router fallbacks whose refusals are [`ApiError`] JSON with stable codes (issue
//! 22, point 8): axum's own answer `text/plain` (or nothing) and name Rust types and parser
//! internals. Handlers use [`Query`], [`UrlPath`] and [`JsonBody`] from here as they would axum's
//! `Query`, `Path` and `Json`.
//!
//! Rules:
//! - **Codes.** A bad query string is `400 bad_query`; a path parameter that does not parse (a
//!   node id that is not a number) `400 bad_path_parameter`; a JSON body without
//!   `Content-Type: application/json` `415 unsupported_media_type`, one that does not parse or
//!   has the wrong shape `400 bad_json`; an unknown route `404 unknown_route`; a known route with
//!   another method `405 method_not_allowed` (with `Allow`).
//! - **Messages** name the parameter and the value given, never a Rust type.
//! - **Safety net.** [`json_errors`] turns any error response that is still not JSON (from a
//!   layer or an extractor not wrapped here) into one, with a code from its status.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::ApiError;

/// Largest error body [`json_errors`] reads to quote it.
const QUOTED_BYTES_MAX: usize = 4096;

/// The query string, deserialized; a refusal is `400 bad_query`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_error(&rejection)),
        }
    }
}

fn query_error(rejection: &QueryRejection) -> ApiError {
    let detail = std::error::Error::source(rejection).map_or_else(String::new, innermost);
    ApiError::new(StatusCode::BAD_REQUEST, "bad_query", format!("bad query string: {detail}"))
}

/// The route's path parameters, deserialized; a refusal is `400 bad_path_parameter`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for UrlPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_error(rejection)),
        }
    }
}

fn path_error(rejection: PathRejection) -> ApiError {
    use axum::extract::path::ErrorKind as K;
    let bad =
        |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_path_parameter", message);
    let PathRejection::FailedToDeserializePathParams(error) = rejection else {
        // The route and its handler disagree: our bug, not the client's.
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the route has no such parameter",
        );
    };
    match error.into_kind() {
        K::ParseErrorAtKey { key, value, expected_type } => {
            bad(format!("`{value}` is not a valid {key} in this URL: {}", expected(expected_type)))
        }
        K::ParseErrorAtIndex { value, expected_type, .. }
        | K::ParseError { value, expected_type } => {
            bad(format!("`{value}` is not valid in this URL: {}", expected(expected_type)))
        }
        K::InvalidUtf8InPathParam { key } => bad(format!("the URL's {key} is not UTF-8")),
        K::DeserializeError { key, value, .. } => {
            bad(format!("`{value}` is not a valid {key} in this URL"))
        }
        _ => bad("the URL's path does not fit this route".into()),
    }
}

/// What a parameter of this Rust type must look like, in words.
fn expected(rust_type: &str) -> &'static str {
    match rust_type {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number (0 or more) is expected",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number is expected",
        "bool" => "true or false is expected",
        _ => "another value is expected",
    }
}

/// A JSON request body, deserialized; a refusal is `415 unsupported_media_type` or
/// `400 bad_json` (or the body's own error: too large, stalled).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> ApiError {
    let detail = std::error::Error::source(&rejection).map_or_else(String::new, innermost);
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON, with `Content-Type: application/json`",
        ),
        JsonRejection::JsonDataError(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("the JSON body does not have the expected fields: {detail}"),
        ),
        JsonRejection::JsonSyntaxError(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("the body is not valid JSON: {detail}"),
        ),
        JsonRejection::BytesRejection(rejection)
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the JSON body is larger than this route accepts",
            )
        }
        other => ApiError::new(
            StatusCode::BAD_REQUEST,
            "body_error",
            format!("reading the body failed: {}", other.body_text()),
        ),
    }
}

/// The last error of a chain: the serde message, without axum's wrapping of it.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut error = error;
    while let Some(source) = error.source() {
        error = source;
    }
    error.to_string()
}

/// The router's fallback: `404 unknown_route`.
pub async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_route",
        format!("no route {method} {}: see docs/http-api.md", uri.path()),
    )
}

/// The fallback of a known route asked with another method: `405 method_not_allowed` (axum adds
/// `Allow`).
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {method}: the Allow header lists what it takes", uri.path()),
    )
}

/// Middleware: an error response that is not JSON becomes `{"error": {...}}` with a code from its
/// status (its headers, such as `Allow` or `Retry-After`, kept).
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let said = axum::body::to_bytes(body, QUOTED_BYTES_MAX).await.unwrap_or_default();
    let said = String::from_utf8_lossy(&said).trim().to_owned();
    let message = if said.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        said
    };
    let mut answer = ApiError::new(status, status_code(status), message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_LENGTH && name != header::CONTENT_TYPE {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    answer
}

/// A stable code for an error status nothing more specific named.
pub fn status_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        404 => "unknown_route",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "body_too_large",
        415 => "unsupported_media_type",
        416 => "bad_range",
        431 => "headers_too_large",
        500..=599 => "internal",
        _ => "http_error",
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use serde::Deserialize;
    use tower::ServiceExt;

    use super::{Query, UrlPath};

    #[derive(Deserialize)]
    struct Limit {
        #[allow(dead_code)]
        limit: Option<usize>,
    }

    fn router() -> Router {
        Router::new()
            .route("/node/{id}", get(|UrlPath(_id): UrlPath<u64>| async { "ok" }))
            .route("/page", get(|Query(_q): Query<Limit>| async { "ok" }))
            .route("/text", get(|| async { (StatusCode::BAD_REQUEST, "plain words") }))
            .method_not_allowed_fallback(super::method_not_allowed)
            .fallback(super::unknown_route)
            .layer(axum::middleware::from_fn(super::json_errors))
    }

    async fn call(method: &str, uri: &str) -> (StatusCode, serde_json::Value, String) {
        let request = Request::builder().method(method).uri(uri).body(Body::empty());
        let response = router().oneshot(request.expect("request")).await.expect("answer");
        let status = response.status();
        let allow = response.headers().get("allow").and_then(|v| v.to_str().ok());
        let allow = allow.unwrap_or("").to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or_default(), allow)
    }

    #[tokio::test]
    async fn every_refusal_is_json_with_a_code_and_no_rust_types() {
        let cases = [
            ("GET", "/node/abc", 400, "bad_path_parameter"),
            ("GET", "/page?limit=abc", 400, "bad_query"),
            ("GET", "/nowhere", 404, "unknown_route"),
            ("POST", "/page", 405, "method_not_allowed"),
            ("GET", "/text", 400, "bad_request"),
        ];
        for (method, uri, status, code) in cases {
            let (got, body, allow) = call(method, uri).await;
            assert_eq!(
                (got.as_u16(), body["error"]["code"].as_str()),
                (status, Some(code)),
                "{uri}"
            );
            let message = body["error"]["message"].as_str().unwrap_or("");
            assert!(!message.is_empty() && !message.contains("u64"), "{uri}: {message}");
            if status == 405 {
                assert!(allow.contains("GET"), "{allow}");
            }
        }
        let (_, body, _) = call("GET", "/text").await;
        assert_eq!(body["error"]["message"], "plain words", "the text is kept as the message");
        let (_, body, _) = call("GET", "/node/abc").await;
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains("`abc`") && message.contains("whole number"), "{message}");
    }
}
