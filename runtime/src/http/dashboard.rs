//! The dashboard page (DESIGN §2 "monitoring"): every node serves, at `/`, one HTML page with
//! its stylesheet and script, embedded in the binary. The page reads the same JSON endpoints as
//! the CLI (`/nodes`, `/replication-queue`, `/list`, `/events`, `/explain/...`), so it shows
//! nothing the API does not; it has no framework and no build step.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::ApiState;

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const STYLE_CSS: &str = include_str!("dashboard/style.css");
const APP_JS: &str = include_str!("dashboard/app.js");

/// Only this origin's own files run or load; the page talks to no other host.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The dashboard's routes: the page at `/` and its two assets.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/dashboard.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route("/dashboard.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
}

/// An embedded file with its type; `no-cache` so a browser picks up a new binary's page at once.
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        ],
        body,
    )
}
