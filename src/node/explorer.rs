//! The explorer page at `/`: plain HTML, CSS and JavaScript built into the binary
//! (`include_str!` of `assets/`), so it works offline, needs no build step and no CDN.
//! It reads only the node's public API (`/api/status`, `/api/blocks?from=N&limit=M`,
//! `/api/blocks/N`, `POST /api/mineblock`) and follows `/api/events`.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const HTML: &str = include_str!("../../assets/explorer.html");
const JS: &str = include_str!("../../assets/explorer.js");
const CSS: &str = include_str!("../../assets/explorer.css");

/// The page's routes (stateless; merged into the node's router).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/assets/explorer.js", get(script))
        .route("/assets/explorer.css", get(style))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The assets change only with the binary; a reload after an upgrade must
            // not mix versions.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", HTML)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", CSS)
}
