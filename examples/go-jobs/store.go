package main

import (
	"context"
	"log"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

const schemaLock = 7201311

const schemaSQL = `
CREATE TABLE IF NOT EXISTS jq_jobs (
    job_id       text PRIMARY KEY,
    queue        text NOT NULL,
    payload      text NOT NULL,
    state        text NOT NULL,
    token        bigint NOT NULL DEFAULT 0,
    worker       text,
    claimed_at   timestamptz,
    expires_at   timestamptz,
    claims       integer NOT NULL DEFAULT 0,
    result       text,
    completed_by text
);
CREATE TABLE IF NOT EXISTS jq_results (
    result_id   bigserial PRIMARY KEY,
    job_id      text NOT NULL,
    complete_id text NOT NULL,
    token       bigint NOT NULL,
    result      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS jq_results_job ON jq_results (job_id);
CREATE TABLE IF NOT EXISTS jq_requests (
    request_id text PRIMARY KEY,
    op         text NOT NULL,
    job_id     text NOT NULL,
    outcome    text NOT NULL,
    token      bigint,
    http       integer NOT NULL,
    answer     jsonb NOT NULL
);
`

type server struct {
	pool    *pgxpool.Pool
	variant string
	ready   atomic.Bool
}

// prepareSchema creates the tables once per database, serialised between
// replicas by an advisory lock, retrying until the store answers.
func (s *server) prepareSchema(ctx context.Context) {
	for ctx.Err() == nil {
		if err := s.trySchema(ctx); err != nil {
			log.Printf("go-jobs: schema not ready: %v", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(300 * time.Millisecond):
			}
			continue
		}
		s.ready.Store(true)
		log.Printf("go-jobs: schema ready")
		return
	}
}

func (s *server) trySchema(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, 5*time.Second)
	defer cancel()
	var exists bool
	if err := s.pool.QueryRow(ctx,
		`SELECT to_regclass('jq_requests') IS NOT NULL`).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLock); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, schemaSQL); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
