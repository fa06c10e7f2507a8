package main

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

const schema = `
CREATE TABLE IF NOT EXISTS gl_customers (
  customer_id text PRIMARY KEY,
  balance     bigint  NOT NULL,
  frozen      boolean NOT NULL DEFAULT false,
  version     bigint  NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS gl_earns (
  earn_id     text PRIMARY KEY,
  customer_id text   NOT NULL,
  points      bigint NOT NULL,
  seq         bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS gl_redemptions (
  redeem_id   text PRIMARY KEY,
  customer_id text   NOT NULL,
  points      bigint NOT NULL,
  status      text   NOT NULL,
  reason      text,
  seq         bigint
);
CREATE TABLE IF NOT EXISTS gl_freezes (
  freeze_id   text PRIMARY KEY,
  customer_id text NOT NULL
);
CREATE TABLE IF NOT EXISTS gl_outbox (
  id         bigserial PRIMARY KEY,
  event_id   text    NOT NULL,
  customer_id text   NOT NULL,
  payload    text    NOT NULL,
  published  boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS gl_outbox_pending ON gl_outbox (id) WHERE NOT published;
CREATE TABLE IF NOT EXISTS gl_statement (
  event_id    text PRIMARY KEY,
  customer_id text   NOT NULL,
  kind        text   NOT NULL,
  points      bigint NOT NULL,
  seq         bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS gl_statement_customer ON gl_statement (customer_id, seq);
CREATE TABLE IF NOT EXISTS gl_vouchers (
  redeem_id   text PRIMARY KEY,
  shipment_id text NOT NULL
);
`

// openPool connects and makes sure the schema exists, retrying until ctx ends:
// a process may be (re)started while PostgreSQL is still unreachable.
func openPool(ctx context.Context, dbURL string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = "4000"
	cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "3000"
	cfg.HealthCheckPeriod = 5 * time.Second
	var pool *pgxpool.Pool
	for {
		if pool == nil {
			pool, err = pgxpool.NewWithConfig(ctx, cfg)
		}
		if err == nil {
			err = ensureSchema(ctx, pool)
			if err == nil {
				return pool, nil
			}
		}
		log.Printf("store not ready: %v", err)
		select {
		case <-ctx.Done():
			if pool != nil {
				pool.Close()
			}
			return nil, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func ensureSchema(ctx context.Context, pool *pgxpool.Pool) error {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var present bool
	err := pool.QueryRow(c, `SELECT to_regclass('gl_vouchers') IS NOT NULL AND to_regclass('gl_statement_customer') IS NOT NULL`).Scan(&present)
	if err != nil {
		return err
	}
	if present {
		return nil
	}
	return pgx.BeginFunc(c, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(c, `SELECT pg_advisory_xact_lock(7265310)`); err != nil {
			return err
		}
		_, err := tx.Exec(c, schema)
		return err
	})
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// retryDB runs f until it succeeds or ctx ends, backing off.
func retryDB(ctx context.Context, what string, f func(context.Context) error) error {
	back := 50 * time.Millisecond
	for {
		c, cancel := context.WithTimeout(ctx, 4*time.Second)
		err := f(c)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Printf("%s: %v (retrying)", what, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(back):
		}
		if back < time.Second {
			back *= 2
		}
	}
}
