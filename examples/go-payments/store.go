package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The payments table is the only truth: a row is written ("pending", the
// intent) before any money moves, and settled to "captured" or "declined"
// once the PSP has answered definitely.
const schema = `
CREATE TABLE IF NOT EXISTS gp_payments (
    payment_id text PRIMARY KEY,
    order_id   text NOT NULL,
    amount     bigint NOT NULL CHECK (amount > 0),
    status     text NOT NULL CHECK (status IN ('pending', 'captured', 'declined')),
    charge_id  text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'captured') = (charge_id IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS gp_payments_pending ON gp_payments (updated_at) WHERE status = 'pending';
`

// Every database call gets its own deadline, so a blackholed or partitioned
// link turns into an error (and an indeterminate answer), never a hang.
const dbTimeout = 3 * time.Second

// Payment is one row of gp_payments.
type Payment struct {
	PaymentID string
	OrderID   string
	Amount    int64
	Status    string // pending, captured or declined
	ChargeID  string // set when captured
}

// Store is the PostgreSQL side: claims, settlements, reads.
type Store struct {
	pool *pgxpool.Pool
}

// openStore connects and applies the schema, retrying until ctx ends: a
// replica restarted while PostgreSQL is still coming back must wait, not exit.
func openStore(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	cfg.MaxConns = 8
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	store := &Store{pool: pool}
	delay := 100 * time.Millisecond
	for {
		err = store.applySchema(ctx)
		if err == nil {
			return store, nil
		}
		log.Printf("schema not applied yet (%v); retrying in %v", err, delay)
		select {
		case <-ctx.Done():
			pool.Close()
			return nil, errors.Join(ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// applySchema creates the table once per database. Replicas start side by
// side and every restart runs this again, so: skip it when the schema is
// there (no DDL, so no lock, while other replicas serve traffic), and
// serialise the first creation with an advisory lock (two concurrent
// CREATE TABLE IF NOT EXISTS can still collide in the catalog).
func (s *Store) applySchema(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var present bool
	err := s.pool.QueryRow(ctx,
		`SELECT to_regclass('gp_payments') IS NOT NULL AND to_regclass('gp_payments_pending') IS NOT NULL`,
	).Scan(&present)
	if err != nil || present {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7265001)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schema)
		return err
	})
}

func (s *Store) Close() { s.pool.Close() }

// Claim inserts the pending intent for a payment if there is none, and
// returns the payment's row as it is now (new, or stored by an earlier
// attempt). The insert commits before the PSP is ever called.
func (s *Store) Claim(ctx context.Context, p Payment) (Payment, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	_, err := s.pool.Exec(ctx,
		`INSERT INTO gp_payments (payment_id, order_id, amount, status)
		 VALUES ($1, $2, $3, 'pending') ON CONFLICT (payment_id) DO NOTHING`,
		p.PaymentID, p.OrderID, p.Amount)
	if err != nil {
		return Payment{}, err
	}
	got, found, err := s.get(ctx, p.PaymentID)
	if err == nil && !found {
		err = errors.New("claimed payment vanished")
	}
	return got, err
}

// Get reads one payment; found is false when there is none.
func (s *Store) Get(ctx context.Context, id string) (Payment, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	return s.get(ctx, id)
}

func (s *Store) get(ctx context.Context, id string) (Payment, bool, error) {
	var p Payment
	var charge *string
	err := s.pool.QueryRow(ctx,
		`SELECT payment_id, order_id, amount, status, charge_id FROM gp_payments WHERE payment_id = $1`,
		id).Scan(&p.PaymentID, &p.OrderID, &p.Amount, &p.Status, &charge)
	if errors.Is(err, pgx.ErrNoRows) {
		return Payment{}, false, nil
	}
	if err != nil {
		return Payment{}, false, err
	}
	if charge != nil {
		p.ChargeID = *charge
	}
	return p, true, nil
}

// Settle records the PSP's definite answer on a pending payment and returns
// the row as it is afterwards. A payment settles once: if another attempt
// (a retry, the reconciler) settled it first, its result stands, and with a
// stable Idempotency-Key both saw the same charge anyway.
func (s *Store) Settle(ctx context.Context, id string, status string, chargeID string) (Payment, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var charge *string
	if chargeID != "" {
		charge = &chargeID
	}
	_, err := s.pool.Exec(ctx,
		`UPDATE gp_payments SET status = $2, charge_id = $3, updated_at = now()
		 WHERE payment_id = $1 AND status = 'pending'`,
		id, status, charge)
	if err != nil {
		return Payment{}, err
	}
	got, found, err := s.get(ctx, id)
	if err == nil && !found {
		err = errors.New("settled payment vanished")
	}
	return got, err
}

// Touch moves a pending payment to the back of the reconciler's queue.
func (s *Store) Touch(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	_, err := s.pool.Exec(ctx,
		`UPDATE gp_payments SET updated_at = now() WHERE payment_id = $1 AND status = 'pending'`, id)
	return err
}

// Due lists pending payments nobody has worked on for at least olderThan:
// left behind by a crash, a lost PSP answer or a failed settlement.
func (s *Store) Due(ctx context.Context, olderThan time.Duration, limit int) ([]Payment, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx,
		`SELECT payment_id, order_id, amount, status FROM gp_payments
		 WHERE status = 'pending' AND updated_at < now() - make_interval(secs => $1)
		 ORDER BY updated_at LIMIT $2`,
		olderThan.Seconds(), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Payment, error) {
		var p Payment
		err := row.Scan(&p.PaymentID, &p.OrderID, &p.Amount, &p.Status)
		return p, err
	})
}
