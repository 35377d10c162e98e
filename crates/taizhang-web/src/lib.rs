//! The HTTP layer: JSON API v1 (OpenAPI 3.1 at `/api/v1/openapi.json`, vendored Swagger UI at `/api/docs`)
//! and a small landing page. Thin: parse, authenticate, call the service, render. Every error is a JSON body
//! `{ "code": "snake_case", "message": "中文说明" }` with the status the code maps to.

mod api;
mod api_ops;
mod api_oversight;
mod challenge;
mod extract;
mod limit;
mod ops_pages;
mod oversight_pages;
mod pages;
mod portal;
mod upload;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use taizhang_service::Service;
use tokio::net::TcpListener;

pub use api::{ApiDoc, api_doc};

/// Largest request body accepted, except on the forms that carry attachments (`upload::UPLOAD_BODY_BYTES`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub svc: Service,
    pub limiter: Arc<limit::Limiter>,
    pub challenges: Arc<challenge::Challenges>,
    pub stash: Arc<upload::Stash>,
    pub statistics: Arc<portal::StatisticsCache>,
    pub suggester: Arc<pages::Suggester>,
    pub receipts: Arc<portal::Receipts>,
}

pub fn router(svc: Service) -> Router {
    api::router(AppState {
        svc,
        limiter: Default::default(),
        challenges: Default::default(),
        stash: Default::default(),
        statistics: Default::default(),
        suggester: Default::default(),
        receipts: Default::default(),
    })
}

/// Serves until `shutdown` resolves. Binding is the caller's (tests bind port 0 and read the address).
pub async fn serve(
    listener: TcpListener,
    svc: Service,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(svc).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
