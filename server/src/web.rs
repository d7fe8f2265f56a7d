//! The log's web page at `/`: static HTML, CSS and JavaScript compiled into
//! the binary (no build step, no external requests), and the JSON status API
//! it and other tools read (`/api/v1/status`, `/api/v1/policy`).
//!
//! The page believes nothing the server says without checking it in the
//! browser: checkpoint signatures and cosignatures (WebCrypto Ed25519),
//! inclusion proofs (RFC 9162 §2.1.3.2, in `verify.js`) and each
//! attestation's DSSE signature. Every page response carries a
//! Content-Security-Policy allowing only the page's own origin.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// Scripts, styles, fetches and images from this origin only; no plugins,
/// no framing, no inline code.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// A file of the page: path, media type, bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../web/index.html"),
    },
    Asset {
        path: "/web/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../web/style.css"),
    },
    Asset {
        path: "/web/verify.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/verify.js"),
    },
    Asset {
        path: "/web/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/app.js"),
    },
];

/// The page's routes, to merge into the API router.
pub fn routes() -> Router<Arc<AppState>> {
    let mut router = Router::new();
    for asset in ASSETS {
        router = router.route(asset.path, get(move || async move { page(asset) }));
    }
    router
        .route("/api/v1/status", get(status))
        .route("/api/v1/policy", get(policy))
}

fn page(asset: &'static Asset) -> Response {
    let mut resp = ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn status(State(state): State<Arc<AppState>>) -> Response {
    let s = state.clone();
    let answer =
        tokio::task::spawn_blocking(move || s.summaries.status(&s.log, s.default_policy.is_some()))
            .await;
    match answer {
        Ok(Ok(status)) => axum::Json(status).into_response(),
        Ok(Err(e)) => {
            tracing::error!("status: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "log storage is unavailable\n",
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!("status task: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn policy(State(state): State<Arc<AppState>>) -> Response {
    match &state.default_policy {
        Some(text) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "this log has no default policy\n").into_response(),
    }
}
