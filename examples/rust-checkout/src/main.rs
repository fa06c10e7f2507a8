//! rust-checkout: an inventory target for failmodel (docs/contracts.md
//! section 3). One binary, one command: `serve` runs a replica, which answers
//! the HTTP API and also drains the shipment outbox.

mod config;
mod db;
mod orders;
mod relay;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use deadpool_postgres::Pool;
use serde_json::json;
use tokio::sync::Notify;

use config::Variant;

pub struct App {
    pub pool: Pool,
    pub variant: Variant,
    pub instance: String,
    pub partner_url: String,
    pub http: reqwest::Client,
    pub wake_relay: Notify,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match config::from_args(&args) {
        Ok(cfg) => cfg,
        Err(msg) => {
            eprintln!("rust-checkout: {msg}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(serve(cfg));
}

async fn serve(cfg: config::Config) {
    tokio::spawn(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        std::process::exit(0);
    });

    let pool = match db::pool(&cfg.database_url, &cfg.instance) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("rust-checkout: {msg}");
            std::process::exit(2);
        }
    };
    eprintln!(
        "[{}] rust-checkout starting: variant {}, port {}",
        cfg.instance,
        cfg.variant.name(),
        cfg.port
    );

    // The stores may still be coming back (a restart healed together with a
    // partition): keep trying; the harness bounds the wait.
    let mut tries = 0u32;
    while let Err(e) = db::ensure_schema(&pool).await {
        if tries % 10 == 0 {
            eprintln!("[{}] waiting for the database: {e}", cfg.instance);
        }
        tries += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let app = Arc::new(App {
        pool,
        variant: cfg.variant,
        instance: cfg.instance.clone(),
        partner_url: cfg.partner_url.clone(),
        http: relay::http_client(),
        wake_relay: Notify::new(),
    });
    tokio::spawn(relay::run(app.clone()));

    let router = Router::new()
        .route("/health", get(|| async { (StatusCode::OK, Json(json!({ "status": "ok" }))) }))
        .route("/inventory/{sku}", get(orders::get_stock).put(orders::put_stock))
        .route("/orders", post(orders::post_order))
        .route("/orders/{order_id}", get(orders::get_order))
        .with_state(app.clone());

    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], cfg.port));
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) => {
                eprintln!("[{}] cannot listen on {addr}: {e}; retrying", cfg.instance);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    eprintln!("[{}] ready on {addr}", cfg.instance);
    // axum's accept loop retries failed accepts itself and never returns.
    if let Err(e) = axum::serve(listener, router).await {
        eprintln!("[{}] server stopped: {e}", cfg.instance);
    }
    std::future::pending::<()>().await;
}
