//! The shipment relay: every replica drains the outbox that accepted orders
//! write in their own transaction, calling the warehouse
//! (`POST {PARTNER_URL}/warehouse/shipments`) once per order id, with an
//! idempotency key derived from it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::task::JoinSet;

use crate::config::{Variant, LIMITS};
use crate::db::{self, DbError};
use crate::App;

const BATCH: i64 = 16;

const CLAIM_LEASE: &str = "
WITH due AS (
    SELECT order_id FROM rc_outbox
    WHERE shipped_at IS NULL AND lease_until < now()
    ORDER BY created_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE rc_outbox o
SET lease_until = now() + make_interval(secs => $1), attempts = o.attempts + 1
FROM due WHERE o.order_id = due.order_id
RETURNING o.order_id, o.sku, o.qty, o.attempts";

const CLAIM_MARK: &str = "
WITH due AS (
    SELECT order_id FROM rc_outbox
    WHERE shipped_at IS NULL AND lease_until < now()
    ORDER BY created_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE rc_outbox o
SET shipped_at = now(), lease_until = now() + make_interval(secs => $1), attempts = o.attempts + 1
FROM due WHERE o.order_id = due.order_id
RETURNING o.order_id, o.sku, o.qty, o.attempts";

const RECORD_SHIPPED: &str = "
UPDATE rc_outbox SET shipped_at = coalesce(shipped_at, now()), shipment_id = $2
WHERE order_id = $1";

const RELEASE_LEASE: &str = "
UPDATE rc_outbox SET lease_until = now() + make_interval(secs => $2)
WHERE order_id = $1 AND shipped_at IS NULL";

const RELEASE_MARK: &str = "
UPDATE rc_outbox SET shipped_at = NULL, lease_until = now() + make_interval(secs => $2)
WHERE order_id = $1 AND shipment_id IS NULL";

#[derive(Clone, Debug)]
struct Due {
    order_id: String,
    sku: String,
    qty: i64,
    attempts: i32,
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(LIMITS.partner_timeout)
        .connect_timeout(Duration::from_secs(1))
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client")
}

pub async fn run(app: Arc<App>) {
    let mut quiet_errors = 0u32;
    loop {
        tokio::select! {
            _ = app.wake_relay.notified() => {}
            _ = tokio::time::sleep(LIMITS.relay_poll) => {}
        }
        loop {
            match claim(&app).await {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => {
                    quiet_errors = 0;
                    let mut ships = JoinSet::new();
                    for due in batch {
                        ships.spawn(ship(app.clone(), due));
                    }
                    while ships.join_next().await.is_some() {}
                }
                Err(e) => {
                    if quiet_errors % 20 == 0 {
                        eprintln!("[{}] relay: cannot claim shipments: {e}", app.instance);
                    }
                    quiet_errors += 1;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    break;
                }
            }
        }
    }
}

async fn claim(app: &App) -> Result<Vec<Due>, DbError> {
    let sql = if app.variant == Variant::VariantC { CLAIM_MARK } else { CLAIM_LEASE };
    let lease = LIMITS.lease.as_secs_f64();
    db::run(&app.pool, LIMITS.read_deadline, move |c| {
        Box::pin(async move {
            let rows = c.query(sql, &[&lease, &BATCH]).await?;
            Ok(rows
                .iter()
                .map(|r| Due { order_id: r.get(0), sku: r.get(1), qty: r.get(2), attempts: r.get(3) })
                .collect())
        })
    })
    .await
}

enum Shipped {
    Yes(String),
    No(String),
}

async fn call_warehouse(app: &App, due: &Due) -> Shipped {
    let body = json!({ "order_id": due.order_id, "sku": due.sku, "qty": due.qty });
    let sent = app
        .http
        .post(format!("{}/warehouse/shipments", app.partner_url))
        .header("Idempotency-Key", format!("rc-ship-{}", due.order_id))
        .json(&body)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return Shipped::No(format!("request failed: {e}")),
    };
    let status = resp.status();
    match resp.json::<serde_json::Value>().await {
        Ok(v) if status.as_u16() == 200 => match v.get("shipment_id").and_then(|s| s.as_str()) {
            Some(id) => Shipped::Yes(id.to_string()),
            None => Shipped::No(format!("200 without shipment_id: {v}")),
        },
        Ok(v) => Shipped::No(format!("HTTP {status}: {v}")),
        Err(e) => Shipped::No(format!("HTTP {status}, unreadable answer: {e}")),
    }
}

async fn ship(app: Arc<App>, due: Due) {
    let id = due.order_id.clone();
    match call_warehouse(&app, &due).await {
        Shipped::Yes(shipment_id) => {
            let res = db::run(&app.pool, LIMITS.read_deadline, move |c| {
                Box::pin(async move { c.execute(RECORD_SHIPPED, &[&id, &shipment_id]).await })
            })
            .await;
            if let Err(e) = res {
                // The lease runs out and the call is made again with the same
                // key: the warehouse answers with the stored shipment.
                eprintln!("[{}] relay: shipped {} but could not record it: {e}", app.instance, due.order_id);
            }
        }
        Shipped::No(why) => {
            if due.attempts <= 3 || due.attempts % 10 == 0 {
                eprintln!(
                    "[{}] relay: shipment of {} not confirmed (attempt {}): {why}",
                    app.instance, due.order_id, due.attempts
                );
            }
            let backoff: f64 = (0.1 * 2f64.powi(due.attempts.clamp(1, 5))).min(2.0);
            let sql = if app.variant == Variant::VariantC { RELEASE_MARK } else { RELEASE_LEASE };
            let res = db::run(&app.pool, LIMITS.read_deadline, move |c| {
                Box::pin(async move { c.execute(sql, &[&id, &backoff]).await })
            })
            .await;
            if let Err(e) = res {
                eprintln!("[{}] relay: could not reschedule {}: {e}", app.instance, due.order_id);
            }
        }
    }
}
