package main

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	queryTimeout = 5 * time.Second // every transaction / query has a deadline
	schemaLockID = 7265101
)

// openStore connects and makes sure the schema exists, retrying until ctx ends:
// a process may be (re)started while PostgreSQL is still unreachable.
func openStore(ctx context.Context, dbURL string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = maxConns
	cfg.HealthCheckPeriod = 2 * time.Second
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	// A paused replica may hold a row lock in an open transaction: PostgreSQL ends
	// such a transaction after 3 s so other replicas are not blocked for the pause.
	cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "3000"
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = "5000"
	backoff := 100 * time.Millisecond
	for {
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err == nil {
			if err = ensureSchema(ctx, pool); err == nil {
				return pool, nil
			}
			pool.Close()
		}
		log.Printf("store not ready yet: %v", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		if backoff < time.Second {
			backoff *= 2
		}
	}
}

const schemaDDL = `
CREATE TABLE IF NOT EXISTS gc_stock (
    sku       text PRIMARY KEY,
    available bigint NOT NULL CHECK (available >= 0)
);
CREATE TABLE IF NOT EXISTS gc_orders (
    order_id   text PRIMARY KEY,
    sku        text NOT NULL,
    qty        bigint NOT NULL,
    status     text NOT NULL,           -- accepted | rejected (decided in one transaction)
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS gc_outbox (
    order_id    text PRIMARY KEY REFERENCES gc_orders(order_id),
    sku         text NOT NULL,
    qty         bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    shipped_at  timestamptz,
    shipment_id text
);
CREATE INDEX IF NOT EXISTS gc_outbox_unshipped ON gc_outbox (created_at) WHERE shipped_at IS NULL;
`

func ensureSchema(ctx context.Context, pool *pgxpool.Pool) error {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var present bool
	err := pool.QueryRow(ctx, `SELECT to_regclass('gc_stock') IS NOT NULL
		AND to_regclass('gc_orders') IS NOT NULL AND to_regclass('gc_outbox') IS NOT NULL
		AND to_regclass('gc_outbox_unshipped') IS NOT NULL`).Scan(&present)
	if err != nil {
		return err
	}
	if present { // no DDL (and no catalog locks) while other replicas serve
		return nil
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// concurrent CREATE ... IF NOT EXISTS can still collide in the catalog
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLockID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schemaDDL)
		return err
	})
}

type order struct {
	OrderID string
	SKU     string
	Qty     int64
	Status  string
}

var errConflict = errors.New("order_id reused with another body")

// placeOrder decides an order once, in one transaction: the order row (keyed by
// order_id, so a resend finds it), the stock decrement and, when accepted, the
// shipment's outbox row commit together or not at all.
func placeOrder(ctx context.Context, pool *pgxpool.Pool, variant string, o order) (order, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var out order
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Claim the order_id. A concurrent attempt with the same id waits here on the
		// unique index until the first one commits (then finds its row) or aborts.
		tag, err := tx.Exec(ctx, `INSERT INTO gc_orders (order_id, sku, qty, status)
			VALUES ($1, $2, $3, 'deciding') ON CONFLICT (order_id) DO NOTHING`, o.OrderID, o.SKU, o.Qty)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			out, err = readOrderTx(ctx, tx, o.OrderID)
			if err != nil {
				return err
			}
			if out.SKU != o.SKU || out.Qty != o.Qty {
				return errConflict
			}
			return nil
		}
		accepted, err := takeStock(ctx, tx, variant, o.SKU, o.Qty)
		if err != nil {
			return err
		}
		status := "rejected"
		if accepted {
			status = "accepted"
			if _, err := tx.Exec(ctx, `INSERT INTO gc_outbox (order_id, sku, qty) VALUES ($1, $2, $3)`,
				o.OrderID, o.SKU, o.Qty); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE gc_orders SET status = $2 WHERE order_id = $1`, o.OrderID, status); err != nil {
			return err
		}
		out = o
		out.Status = status
		return nil
	})
	return out, err
}

// takeStock removes qty from the SKU's stock if there is enough.
func takeStock(ctx context.Context, tx pgx.Tx, variant, sku string, qty int64) (bool, error) {
	if variant == "read_then_write" {
		// BUG (deliberate): read, decide in the application, write the computed value
		// back. No lock between the read and the write: two concurrent orders both read
		// the same count and both succeed, the second write overwriting the first.
		var available int64
		err := tx.QueryRow(ctx, `SELECT available FROM gc_stock WHERE sku = $1`, sku).Scan(&available)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if available < qty {
			return false, nil
		}
		_, err = tx.Exec(ctx, `UPDATE gc_stock SET available = $2 WHERE sku = $1`, sku, available-qty)
		return err == nil, err
	}
	// Conditional decrement: the row lock and the check are one atomic step.
	tag, err := tx.Exec(ctx, `UPDATE gc_stock SET available = available - $2
		WHERE sku = $1 AND available >= $2`, sku, qty)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func readOrderTx(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string) (order, error) {
	var o order
	err := q.QueryRow(ctx, `SELECT order_id, sku, qty, status FROM gc_orders WHERE order_id = $1`, id).
		Scan(&o.OrderID, &o.SKU, &o.Qty, &o.Status)
	return o, err
}

func readOrder(ctx context.Context, pool *pgxpool.Pool, id string) (order, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	return readOrderTx(ctx, pool, id)
}

func setStock(ctx context.Context, pool *pgxpool.Pool, sku string, available int64) error {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	_, err := pool.Exec(ctx, `INSERT INTO gc_stock (sku, available) VALUES ($1, $2)
		ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available`, sku, available)
	return err
}

func readStock(ctx context.Context, pool *pgxpool.Pool, sku string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var available int64
	err := pool.QueryRow(ctx, `SELECT available FROM gc_stock WHERE sku = $1`, sku).Scan(&available)
	return available, err
}

type shipment struct {
	OrderID string
	SKU     string
	Qty     int64
}

func dueShipments(ctx context.Context, pool *pgxpool.Pool, limit int) ([]shipment, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rows, err := pool.Query(ctx, `SELECT order_id, sku, qty FROM gc_outbox
		WHERE shipped_at IS NULL ORDER BY created_at LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (shipment, error) {
		var s shipment
		err := r.Scan(&s.OrderID, &s.SKU, &s.Qty)
		return s, err
	})
}

func markShipped(ctx context.Context, pool *pgxpool.Pool, orderID, shipmentID string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := pool.Exec(ctx, `UPDATE gc_outbox SET shipped_at = now(), shipment_id = $2
		WHERE order_id = $1 AND shipped_at IS NULL`, orderID, shipmentID)
	return err
}
