package main

import (
	"context"
	"log"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const schemaLock = 7265117

const schemaSQL = `
CREATE TABLE IF NOT EXISTS promo_coupons (
    coupon_id       text PRIMARY KEY,
    max_redemptions integer NOT NULL,
    remaining       integer NOT NULL CHECK (remaining >= 0),
    status          text NOT NULL DEFAULT 'active',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS promo_redemptions (
    redemption_id text PRIMARY KEY,
    coupon_id     text NOT NULL,
    user_id       text NOT NULL,
    status        text NOT NULL,
    reason        text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS promo_redemptions_by_user
    ON promo_redemptions (coupon_id, user_id) WHERE status = 'redeemed';
CREATE TABLE IF NOT EXISTS promo_gift_outbox (
    redemption_id text PRIMARY KEY,
    coupon_id     text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    attempts      integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS promo_gift_outbox_unsent
    ON promo_gift_outbox (created_at) WHERE sent_at IS NULL;
`

// openStore connects and makes sure the schema exists, retrying until it can
// (the database may still be coming back after a crash). It returns nil only
// when ctx ends first.
func openStore(ctx context.Context, dbURL string) *pgxpool.Pool {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		log.Fatalf("DATABASE_URL: %v", err)
	}
	cfg.MaxConns = 12
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = 30 * time.Second
	cfg.HealthCheckPeriod = 5 * time.Second
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	// A paused process must not hold row locks for ever.
	cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "5000"
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = "3000"
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = "4000"
	cfg.ConnConfig.RuntimeParams["application_name"] = "go-promo"

	for {
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err == nil {
			if err = ensureSchema(ctx, pool); err == nil {
				return pool
			}
			pool.Close()
		}
		log.Printf("store not ready: %v (retrying)", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func ensureSchema(ctx context.Context, pool *pgxpool.Pool) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var present bool
	err := pool.QueryRow(ctx, `SELECT to_regclass('promo_coupons') IS NOT NULL
		AND to_regclass('promo_redemptions') IS NOT NULL
		AND to_regclass('promo_gift_outbox') IS NOT NULL
		AND to_regclass('promo_gift_outbox_unsent') IS NOT NULL`).Scan(&present)
	if err != nil {
		return err
	}
	if present {
		return nil
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schemaSQL)
		return err
	})
}
