//! The inventory contract (docs/contracts.md section 3): stock, orders, reads.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{Variant, LIMITS};
use crate::db::{self, DbError};
use crate::App;

#[derive(Clone, Debug, Deserialize)]
pub struct OrderRequest {
    pub order_id: String,
    pub sku: String,
    pub qty: i64,
}

#[derive(Deserialize)]
struct StockRequest {
    available: i64,
}

/// What the store decided for an order id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Accepted,
    Rejected,
}

struct StoredOrder {
    sku: String,
    qty: i64,
    decision: Decision,
}

enum Outcome {
    Decided(Decision),
    /// The id was used before with another SKU or quantity.
    Mismatch,
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn bad_request(msg: &str) -> Response {
    reply(StatusCode::BAD_REQUEST, json!({ "error": msg }))
}

fn unavailable(id_field: &str, id: &str, err: &dyn std::fmt::Display) -> Response {
    reply(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({ id_field: id, "status": "unknown", "error": err.to_string() }),
    )
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn decision_of(status: &str) -> Decision {
    if status == "accepted" {
        Decision::Accepted
    } else {
        Decision::Rejected
    }
}

fn answer_order(order_id: &str, decision: Decision) -> Response {
    match decision {
        Decision::Accepted => reply(StatusCode::OK, json!({ "order_id": order_id, "status": "accepted" })),
        Decision::Rejected => reply(
            StatusCode::CONFLICT,
            json!({ "order_id": order_id, "status": "rejected", "reason": "out_of_stock" }),
        ),
    }
}

// ---------------------------------------------------------------- stock

pub async fn put_stock(State(app): State<Arc<App>>, Path(sku): Path<String>, body: Bytes) -> Response {
    let req: StockRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(&format!("body: {e}")),
    };
    if !valid_id(&sku) || req.available < 0 {
        return bad_request("sku must be an id and available a non-negative integer");
    }
    let sku2 = sku.clone();
    let result = db::run(&app.pool, LIMITS.read_deadline, move |c| {
        Box::pin(async move {
            let row = c
                .query_one(
                    "INSERT INTO rc_inventory (sku, available) VALUES ($1, $2)
                     ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available
                     RETURNING available",
                    &[&sku2, &req.available],
                )
                .await?;
            Ok(row.get::<_, i64>(0))
        })
    })
    .await;
    match result {
        Ok(available) => reply(StatusCode::OK, json!({ "sku": sku, "available": available })),
        Err(e) => unavailable("sku", &sku, &e),
    }
}

pub async fn get_stock(State(app): State<Arc<App>>, Path(sku): Path<String>) -> Response {
    let sku2 = sku.clone();
    let result = db::run(&app.pool, LIMITS.read_deadline, move |c| {
        Box::pin(async move {
            let row = c.query_opt("SELECT available FROM rc_inventory WHERE sku = $1", &[&sku2]).await?;
            Ok(row.map(|r| r.get::<_, i64>(0)))
        })
    })
    .await;
    match result {
        Ok(Some(available)) => reply(StatusCode::OK, json!({ "sku": sku, "available": available })),
        Ok(None) => reply(StatusCode::NOT_FOUND, json!({ "sku": sku, "error": "unknown sku" })),
        Err(e) => unavailable("sku", &sku, &e),
    }
}

// ---------------------------------------------------------------- orders

async fn load_order(app: &App, order_id: &str) -> Result<Option<StoredOrder>, DbError> {
    let id = order_id.to_string();
    db::run(&app.pool, LIMITS.read_deadline, move |c| {
        Box::pin(async move {
            let row = c.query_opt("SELECT sku, qty, status FROM rc_orders WHERE order_id = $1", &[&id]).await?;
            Ok(row.map(|r| StoredOrder {
                sku: r.get(0),
                qty: r.get(1),
                decision: decision_of(r.get::<_, &str>(2)),
            }))
        })
    })
    .await
}

fn outcome_of(stored: &StoredOrder, req: &OrderRequest) -> Outcome {
    if stored.sku == req.sku && stored.qty == req.qty {
        Outcome::Decided(stored.decision)
    } else {
        Outcome::Mismatch
    }
}

/// Decides an order: one transaction takes the stock (if there is enough),
/// records the order with its outcome and, when accepted, queues its
/// shipment in the outbox. Returns only once that is committed; any error
/// leaves the outcome to whatever the store kept.
async fn place_order(app: Arc<App>, req: OrderRequest) -> Result<Outcome, DbError> {
    if let Some(stored) = load_order(&app, &req.order_id).await? {
        return Ok(outcome_of(&stored, &req));
    }
    let variant = app.variant;
    let r = req.clone();
    let placed = db::run(&app.pool, LIMITS.order_deadline, move |c| {
        Box::pin(async move {
            let tx = c.transaction().await?;
            let took_stock = if variant == Variant::VariantA {
                match tx.query_opt("SELECT available FROM rc_inventory WHERE sku = $1", &[&r.sku]).await? {
                    Some(row) => {
                        let available: i64 = row.get(0);
                        if available >= r.qty {
                            tx.execute(
                                "UPDATE rc_inventory SET available = $2 WHERE sku = $1",
                                &[&r.sku, &(available - r.qty)],
                            )
                            .await?;
                            true
                        } else {
                            false
                        }
                    }
                    None => false,
                }
            } else {
                tx.execute(
                    "UPDATE rc_inventory SET available = available - $2 WHERE sku = $1 AND available >= $2",
                    &[&r.sku, &r.qty],
                )
                .await?
                    == 1
            };
            let decision = if took_stock { Decision::Accepted } else { Decision::Rejected };
            let status = if took_stock { "accepted" } else { "rejected" };
            let inserted = tx
                .execute(
                    "INSERT INTO rc_orders (order_id, sku, qty, status) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (order_id) DO NOTHING",
                    &[&r.order_id, &r.sku, &r.qty, &status],
                )
                .await?;
            if inserted == 0 && variant != Variant::VariantD {
                tx.rollback().await?;
                return Ok(None);
            }
            if took_stock {
                tx.execute(
                    "INSERT INTO rc_outbox (order_id, sku, qty) VALUES ($1, $2, $3)
                     ON CONFLICT (order_id) DO NOTHING",
                    &[&r.order_id, &r.sku, &r.qty],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(if inserted == 1 { Some(decision) } else { None })
        })
    })
    .await?;
    match placed {
        Some(decision) => {
            if decision == Decision::Accepted {
                app.wake_relay.notify_one();
            }
            Ok(Outcome::Decided(decision))
        }
        // Another attempt with this order_id was decided first: its outcome stands.
        None => match load_order(&app, &req.order_id).await? {
            Some(stored) => Ok(outcome_of(&stored, &req)),
            None => Err(DbError::Pool("order neither recorded nor placed; try again".into())),
        },
    }
}

pub async fn post_order(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let req: OrderRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(&format!("body: {e}")),
    };
    if !valid_id(&req.order_id) || !valid_id(&req.sku) || req.qty <= 0 {
        return bad_request("order_id and sku must be ids, qty a positive integer");
    }
    let order_id = req.order_id.clone();
    // The work runs on its own task: a client that gives up (or a replica
    // link that is cut) does not cancel a transaction half-way.
    let work = tokio::spawn(place_order(app.clone(), req));
    match tokio::time::timeout(LIMITS.answer_deadline, work).await {
        Ok(Ok(Ok(Outcome::Decided(decision)))) => answer_order(&order_id, decision),
        Ok(Ok(Ok(Outcome::Mismatch))) => reply(
            StatusCode::CONFLICT,
            json!({ "order_id": order_id, "error": "order_id was used with another sku or qty" }),
        ),
        Ok(Ok(Err(e))) => {
            eprintln!("[{}] order {order_id}: {e}", app.instance);
            unavailable("order_id", &order_id, &e)
        }
        Ok(Err(join)) => unavailable("order_id", &order_id, &join),
        Err(_) => {
            if app.variant == Variant::VariantB {
                answer_order(&order_id, Decision::Rejected)
            } else {
                unavailable("order_id", &order_id, &"not decided yet")
            }
        }
    }
}

pub async fn get_order(State(app): State<Arc<App>>, Path(order_id): Path<String>) -> Response {
    match load_order(&app, &order_id).await {
        Ok(Some(o)) => reply(
            StatusCode::OK,
            json!({
                "order_id": order_id,
                "sku": o.sku,
                "qty": o.qty,
                "status": if o.decision == Decision::Accepted { "accepted" } else { "rejected" },
            }),
        ),
        Ok(None) => reply(StatusCode::NOT_FOUND, json!({ "order_id": order_id, "error": "unknown order" })),
        Err(e) => unavailable("order_id", &order_id, &e),
    }
}
