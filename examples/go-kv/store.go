package main

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Every statement (and connecting) gets this budget: a blackholed link must
// become an error, never a request that hangs.
const queryTimeout = 3 * time.Second

// The schema: one row per key, and the compare-and-set as one server-side
// function, so that a cas is one statement (one round trip, its own implicit
// transaction) that compares and writes under the row lock.
const schemaDDL = `
CREATE TABLE IF NOT EXISTS gk_kv (
    key   text PRIMARY KEY,
    value text NOT NULL
);
CREATE OR REPLACE FUNCTION gk_cas(k text, expected text, nv text,
                                  OUT swapped boolean, OUT cur text)
LANGUAGE plpgsql AS $fn$
BEGIN
    LOOP
        SELECT value INTO cur FROM gk_kv WHERE key = k FOR UPDATE;
        IF FOUND THEN
            IF expected IS NOT NULL AND cur = expected THEN
                UPDATE gk_kv SET value = nv WHERE key = k;
                swapped := true;
                cur := nv;
            ELSE
                swapped := false;
            END IF;
            RETURN;
        END IF;
        -- the key has no value (no row; there is no delete)
        IF expected IS NOT NULL THEN
            swapped := false;
            cur := NULL;
            RETURN;
        END IF;
        INSERT INTO gk_kv (key, value) VALUES (k, nv) ON CONFLICT (key) DO NOTHING;
        IF FOUND THEN
            swapped := true;
            cur := nv;
            RETURN;
        END IF;
        -- a concurrent insert won: read (and lock) its row on the next turn
    END LOOP;
END
$fn$;
`

type store struct {
	pool *pgxpool.Pool
}

func openStore(ctx context.Context, url string) (*store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 8
	cfg.ConnConfig.ConnectTimeout = queryTimeout
	cctx, cancel := context.WithTimeout(ctx, 2*queryTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(cctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := ensureSchema(cctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &store{pool: pool}, nil
}

func ensureSchema(ctx context.Context, pool *pgxpool.Pool) error {
	// Restarts happen while the other replica serves traffic: no DDL (and no
	// lock) when the schema is there.
	var present bool
	err := pool.QueryRow(ctx, `SELECT to_regclass('gk_kv') IS NOT NULL
	    AND to_regprocedure('gk_cas(text,text,text)') IS NOT NULL`).Scan(&present)
	if err != nil {
		return err
	}
	if present {
		return nil
	}
	// Replicas start side by side: concurrent CREATE ... IF NOT EXISTS can
	// still collide in the catalog, so serialise with an advisory lock.
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7265101)`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schemaDDL)
		return err
	})
}

func (s *store) close() { s.pool.Close() }

// get answers the key's value, or nil when it has none.
func (s *store) get(ctx context.Context, key string) (*string, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM gk_kv WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// put sets the value (an upsert: one statement, committed when it returns).
func (s *store) put(ctx context.Context, key, value string) error {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO gk_kv (key, value) VALUES ($1, $2)
	    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, key, value)
	return err
}

// cas swaps to nv iff the value equals expected (nil: no value). It answers
// whether it swapped and the value it leaves (swapped) or compared against.
func (s *store) cas(ctx context.Context, key string, expected *string, nv string) (bool, *string, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var swapped bool
	var cur *string
	err := s.pool.QueryRow(ctx, `SELECT swapped, cur FROM gk_cas($1, $2, $3)`,
		key, expected, nv).Scan(&swapped, &cur)
	if err != nil {
		return false, nil, err
	}
	return swapped, cur, nil
}
