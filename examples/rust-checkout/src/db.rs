//! PostgreSQL: the connection pool, the schema, and `run`, which gives every
//! piece of database work a deadline and drops the connection it used when
//! the work fails or runs out of time.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::config::LIMITS;

pub type BoxFut<'c, T> = Pin<Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send + 'c>>;

/// Why database work gave no answer. Either way the outcome of a write is
/// unknown to the caller: it may have committed or not.
#[derive(Debug)]
pub enum DbError {
    Pool(String),
    Query(tokio_postgres::Error),
    Deadline,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Pool(e) => write!(f, "no database connection: {e}"),
            DbError::Query(e) => write!(f, "database error: {e}"),
            DbError::Deadline => write!(f, "database deadline passed"),
        }
    }
}

pub fn pool(url: &str, instance: &str) -> Result<Pool, String> {
    let mut cfg = tokio_postgres::Config::from_str(url).map_err(|e| format!("DATABASE_URL: {e}"))?;
    cfg.connect_timeout(LIMITS.pool_wait)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(5))
        .application_name(&format!("rust-checkout-{instance}"))
        // A statement that waits (for a lock, a slow disk) ends on the server
        // too, and a session whose process stopped inside a transaction does
        // not hold its locks for ever.
        .options("-c statement_timeout=5000 -c idle_in_transaction_session_timeout=5000");
    let manager = Manager::from_config(cfg, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(16)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(LIMITS.pool_wait))
        .create_timeout(Some(LIMITS.pool_wait))
        .recycle_timeout(Some(Duration::from_secs(1)))
        .build()
        .map_err(|e| format!("database pool: {e}"))
}

/// Runs `work` on a pooled connection within `deadline` (waiting for the
/// connection included). A connection whose work failed or was cut short is
/// closed rather than returned to the pool: its state (an open transaction,
/// a query still in flight on a stalled link) is unknown.
pub async fn run<T, F>(pool: &Pool, deadline: Duration, work: F) -> Result<T, DbError>
where
    F: for<'c> FnOnce(&'c mut Object) -> BoxFut<'c, T>,
{
    let started = tokio::time::Instant::now();
    let mut conn = match tokio::time::timeout(deadline, pool.get()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return Err(DbError::Pool(e.to_string())),
        Err(_) => return Err(DbError::Deadline),
    };
    let left = deadline.saturating_sub(started.elapsed());
    let result = tokio::time::timeout(left, work(&mut conn)).await;
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            drop(Object::take(conn));
            Err(DbError::Query(e))
        }
        Err(_) => {
            drop(Object::take(conn));
            Err(DbError::Deadline)
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rc_inventory (
    sku        TEXT PRIMARY KEY,
    available  BIGINT NOT NULL CHECK (available >= 0)
);
CREATE TABLE IF NOT EXISTS rc_orders (
    order_id   TEXT PRIMARY KEY,
    sku        TEXT NOT NULL,
    qty        BIGINT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS rc_outbox (
    order_id    TEXT PRIMARY KEY,
    sku         TEXT NOT NULL,
    qty         BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    attempts    INTEGER NOT NULL DEFAULT 0,
    shipped_at  TIMESTAMPTZ,
    shipment_id TEXT
);
CREATE INDEX IF NOT EXISTS rc_outbox_due ON rc_outbox (lease_until) WHERE shipped_at IS NULL;
";

const SCHEMA_PRESENT: &str = "SELECT to_regclass('rc_inventory') IS NOT NULL
    AND to_regclass('rc_orders') IS NOT NULL
    AND to_regclass('rc_outbox') IS NOT NULL
    AND to_regclass('rc_outbox_due') IS NOT NULL";

/// Creates the schema unless it is there. Replicas start side by side and
/// restart while others serve: skip the DDL when present, and serialise the
/// creation with an advisory lock.
pub async fn ensure_schema(pool: &Pool) -> Result<(), DbError> {
    run(pool, Duration::from_secs(10), |c| {
        Box::pin(async move {
            let present: bool = c.query_one(SCHEMA_PRESENT, &[]).await?.get(0);
            if present {
                return Ok(());
            }
            let tx = c.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock(7265417)", &[]).await?;
            tx.batch_execute(SCHEMA).await?;
            tx.commit().await
        })
    })
    .await
}
