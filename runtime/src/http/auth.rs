//! Authentication of the client API and the permission checks handlers make (DESIGN §2 "access
//! control"; the rules of who may do what are `dfs_core::meta` `access`).
//!
//! Rules:
//! - **Every client request carries a bearer token** (`Authorization: Bearer NAME.SECRET`, or
//!   `?access_token=` on GET/HEAD, for the dashboard's event stream and download links, which
//!   cannot set headers). [`authenticate`] checks it against the replicated user table of this
//!   node; a missing, malformed, unknown or wrong token is `401 unauthenticated`.
//! - **Open routes**: the probes (`/health`, `/health/live`, `/health/ready`), `/metrics`
//!   (Prometheus scrapers; it names no paths or users), the dashboard's static files (`/`,
//!   `/dashboard.css`, `/dashboard.js`; the page asks for a token itself) and the node-to-node
//!   `/internal/*` routes, which check their own cluster-keyed tokens.
//! - **Bootstrap**: while the user table is empty (a new cluster, before its first leader has
//!   recorded the configured admin), this node's configured admin token is accepted as an admin.
//!   Once any user exists only the table counts.
//! - **Forwarded requests** (to the leader or to the node a request is about) carry the client's
//!   own token, so the other node authenticates and authorizes the same user.
//! - A valid caller is put in the request's extensions before the rate limiter runs, so the
//!   limiter keys clients by user; invented tokens are limited by IP like anonymous requests.
//! - Permission checks read this node's replica, like reads do: a grant or revoke takes effect
//!   on a node once it has applied it (at the latest one commit round later than the leader).

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dfs_core::auth::{Caller, Need, Token};
use dfs_core::Path;

use super::{ApiError, ApiState};
use crate::driver::DriverHandle;

/// What [`authenticate`] needs: the driver (for the user table) and this node's configured
/// admin token (accepted only while no user exists).
#[derive(Clone)]
pub struct AuthState {
    driver: DriverHandle,
    bootstrap: Arc<Token>,
}

impl AuthState {
    /// Authentication against `driver`'s namespace, with `bootstrap` as the first admin's token.
    pub fn new(driver: DriverHandle, bootstrap: Token) -> Self {
        Self { driver, bootstrap: Arc::new(bootstrap) }
    }
}

/// The caller of an authenticated request, as handlers extract it. Missing (an open route, or a
/// layer left out) is `401`.
#[derive(Clone, Debug)]
pub struct Authed(pub Caller);

/// The raw bearer token of an authenticated request, passed on when a request is forwarded.
#[derive(Clone, Debug)]
pub struct BearerToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(Authed)
            .ok_or_else(|| unauthenticated("this endpoint needs a bearer token"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<BearerToken>()
            .cloned()
            .ok_or_else(|| unauthenticated("this endpoint needs a bearer token"))
    }
}

/// Whether `path` is served without a token (see the module docs).
pub fn is_open(path: &str) -> bool {
    matches!(
        path,
        "/" | "/dashboard.css"
            | "/dashboard.js"
            | "/health"
            | "/health/live"
            | "/health/ready"
            | "/metrics"
            | "/favicon.ico"
    ) || path.starts_with("/internal/")
}

/// `401 unauthenticated` with `why`, and a `WWW-Authenticate` challenge.
pub fn unauthenticated(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        format!(
            "{why}; send Authorization: Bearer NAME.SECRET (dfs --token or DFS_TOKEN; an admin \
             makes tokens with dfs user add)"
        ),
    )
}

/// The token a request carries: the `Authorization: Bearer` header, else (GET and HEAD only)
/// the `access_token` query parameter. `Err` for a header that is not a bearer token.
fn presented(request: &Request) -> Result<Option<String>, &'static str> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let text = value.to_str().map_err(|_| "the Authorization header is not text")?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .ok_or("the Authorization header is not a bearer token")?;
        return Ok(Some(token.trim().to_owned()));
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(None);
    }
    let query = request.uri().query().unwrap_or("");
    Ok(query.split('&').find_map(|pair| {
        let value = pair.strip_prefix("access_token=")?;
        percent_decode(value)
    }))
}

/// `%XX` decoding of a query value (tokens are visible ASCII; anything else is refused later).
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                at += 3;
            }
            b'+' => {
                out.push(b' ');
                at += 1;
            }
            byte => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The caller `token` proves on this node, if any.
async fn resolve(auth: &AuthState, token: Token) -> Result<Option<Caller>, ApiError> {
    let bootstrap = auth.bootstrap.clone();
    auth.driver
        .query(move |node| {
            let namespace = node.status().namespace;
            if namespace.has_no_users() {
                let same_secret = blake3::hash(token.secret().as_bytes())
                    == blake3::hash(bootstrap.secret().as_bytes());
                let matches = token.user == bootstrap.user && same_secret;
                return matches.then(|| Caller { user: token.user.clone(), admin: true });
            }
            namespace.authenticate(&token)
        })
        .await
        .map_err(|_| ApiError::stopping())
}

/// Middleware: puts the request's [`Caller`] (and its [`BearerToken`]) in its extensions when
/// its token is valid. Never refuses; [`require`] does, after the rate limiter.
pub async fn authenticate(
    State(auth): State<AuthState>,
    mut request: Request,
    next: Next,
) -> Response {
    if is_open(request.uri().path()) {
        return next.run(request).await;
    }
    let raw = match presented(&request) {
        Ok(Some(raw)) => raw,
        Ok(None) => return next.run(request).await,
        Err(why) => {
            request.extensions_mut().insert(Refusal(why));
            return next.run(request).await;
        }
    };
    let Some(token) = Token::parse(&raw) else {
        let why = "the bearer token is not a dfs token (NAME.SECRET)";
        request.extensions_mut().insert(Refusal(why));
        return next.run(request).await;
    };
    match resolve(&auth, token).await {
        Ok(Some(caller)) => {
            request.extensions_mut().insert(caller);
            request.extensions_mut().insert(BearerToken(raw));
        }
        Ok(None) => {
            let why = "the bearer token is not valid (unknown or removed user, or wrong secret)";
            request.extensions_mut().insert(Refusal(why));
        }
        Err(error) => return error.into_response(),
    }
    next.run(request).await
}

/// Why a presented token was not accepted (for [`require`]'s message).
#[derive(Clone, Copy, Debug)]
struct Refusal(&'static str);

/// Middleware: `401 unauthenticated` for a request to a route that is not open and has no valid
/// caller.
pub async fn require(request: Request, next: Next) -> Response {
    if is_open(request.uri().path()) || request.extensions().get::<Caller>().is_some() {
        return next.run(request).await;
    }
    let why = request.extensions().get::<Refusal>().map_or("no bearer token was sent", |r| r.0);
    unauthenticated(why).into_response()
}

/// `Ok` when `caller` has `need` on `path` on this node's replica; else `403 forbidden`.
pub async fn check(
    state: &ApiState,
    caller: &Caller,
    path: &Path,
    need: Need,
) -> Result<(), ApiError> {
    if caller.admin {
        return Ok(());
    }
    let (caller, path) = (caller.clone(), path.clone());
    let outcome = state
        .driver
        .query(move |node| node.status().namespace.check_access(&caller, &path, need))
        .await
        .map_err(|_| ApiError::stopping())?;
    outcome.map_err(ApiError::from)
}

/// `Ok` for an admin; else `403 admin_only` saying that `what` needs one.
pub fn require_admin(caller: &Caller, what: &str) -> Result<(), ApiError> {
    if caller.admin {
        return Ok(());
    }
    Err(ApiError::from(dfs_core::CommandError::AdminOnly {
        user: caller.user.clone(),
        what: what.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_routes_are_only_probes_metrics_dashboard_assets_and_internal() {
        for open in
            ["/", "/health", "/health/ready", "/metrics", "/dashboard.js", "/internal/verify"]
        {
            assert!(is_open(open), "{open}");
        }
        for closed in ["/files/a", "/list", "/nodes", "/events", "/healthz", "/users", "/acl/a"] {
            assert!(!is_open(closed), "{closed}");
        }
    }

    #[test]
    fn query_tokens_are_percent_decoded() {
        assert_eq!(percent_decode("admin.ab%2Fcd").as_deref(), Some("admin.ab/cd"));
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("cut%2"), None);
    }
}
