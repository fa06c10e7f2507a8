package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type store struct {
	pool *pgxpool.Pool
}

func openStore(ctx context.Context, url string) (*store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	cfg.MaxConns = 16
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = 30 * time.Second
	cfg.HealthCheckPeriod = 5 * time.Second
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "go-matching"
	// A transaction left open by a stopped process must not hold its locks
	// for ever; the store ends it and the work is redone or answered 503.
	cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "20000"
	pool, err := pgxpool.NewWithConfig(ctx, cfg) // connects lazily
	if err != nil {
		return nil, err
	}
	return &store{pool: pool}, nil
}

func (s *store) close() { s.pool.Close() }

var schemaTables = []string{"gm_swipes", "gm_matches", "gm_outbox"}

const schemaDDL = `
CREATE TABLE IF NOT EXISTS gm_swipes (
    swipe_id   text PRIMARY KEY,
    swiper     text NOT NULL,
    swipee     text NOT NULL,
    direction  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS gm_swipes_pair ON gm_swipes (swiper, swipee);
CREATE TABLE IF NOT EXISTS gm_matches (
    user_a     text NOT NULL,
    user_b     text NOT NULL,
    match_id   text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_a, user_b)
);
CREATE INDEX IF NOT EXISTS gm_matches_user_b ON gm_matches (user_b);
CREATE TABLE IF NOT EXISTS gm_outbox (
    match_id   text PRIMARY KEY,
    user_a     text NOT NULL,
    user_b     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX IF NOT EXISTS gm_outbox_unsent ON gm_outbox (created_at) WHERE sent_at IS NULL;
`

// ensureSchema creates the tables once per database. Replicas start side by
// side and restart while others serve: skip the DDL when the tables exist,
// and serialise the first creation with an advisory lock.
func (s *store) ensureSchema(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	present := true
	for _, t := range schemaTables {
		var ok bool
		if err := s.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", t).Scan(&ok); err != nil {
			return err
		}
		present = present && ok
	}
	if present {
		return nil
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(7265300)"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schemaDDL)
		return err
	})
}

// canonical orders a pair so that (x, y) and (y, x) name the same row.
func canonical(x, y string) (string, string) {
	if x < y {
		return x, y
	}
	return y, x
}

func pairLockKey(a, b string) int64 {
	h := fnv.New64a()
	h.Write([]byte(a))
	h.Write([]byte{0})
	h.Write([]byte(b))
	return int64(h.Sum64())
}

func newMatchID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "m" + hex.EncodeToString(b[:])
}

type swipe struct {
	SwipeID   string `json:"swipe_id"`
	Swiper    string `json:"swiper"`
	Swipee    string `json:"swipee"`
	Direction string `json:"direction"`
}

type match struct {
	MatchID string   `json:"match_id"`
	Users   []string `json:"users"`
}

var errConflict = errors.New("swipe_id already used with another body")

// swipeResult is what a swipe answers: the pair's match, if this swipe is a
// right swipe and the pair has one.
type swipeResult struct {
	matched bool
	matchID string
	created *match // a match this call created (to announce)
}

// recordSwipe stores the swipe and, when both users swiped right on each
// other, the pair's match, all in one transaction. A resend runs it again:
// every step is idempotent, and the answer is the pair's state now.
func (s *store) recordSwipe(ctx context.Context, sw swipe, beh behaviour, announce func(context.Context, match) error) (swipeResult, error) {
	var res swipeResult
	a, b := canonical(sw.Swiper, sw.Swipee)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		res = swipeResult{}
		if beh.pairLock {
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", pairLockKey(a, b)); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx,
			`INSERT INTO gm_swipes (swipe_id, swiper, swipee, direction) VALUES ($1, $2, $3, $4)
			 ON CONFLICT (swipe_id) DO NOTHING`,
			sw.SwipeID, sw.Swiper, sw.Swipee, sw.Direction); err != nil {
			return err
		}
		var stored swipe
		var reverseRight bool
		if err := tx.QueryRow(ctx,
			`SELECT s.swiper, s.swipee, s.direction,
			        EXISTS (SELECT 1 FROM gm_swipes r
			                WHERE r.swiper = s.swipee AND r.swipee = s.swiper AND r.direction = 'right')
			   FROM gm_swipes s WHERE s.swipe_id = $1`, sw.SwipeID).
			Scan(&stored.Swiper, &stored.Swipee, &stored.Direction, &reverseRight); err != nil {
			return err
		}
		if stored.Swiper != sw.Swiper || stored.Swipee != sw.Swipee || stored.Direction != sw.Direction {
			return errConflict
		}
		if sw.Direction != "right" {
			return nil
		}
		var matchID string
		if reverseRight {
			id, created, err := insertMatch(ctx, tx, a, b, beh)
			if err != nil {
				return err
			}
			matchID = id
			if created {
				m := match{MatchID: id, Users: []string{a, b}}
				if beh.inlineNotify {
					if err := announce(ctx, m); err != nil {
						return err
					}
				} else if _, err := tx.Exec(ctx,
					`INSERT INTO gm_outbox (match_id, user_a, user_b) VALUES ($1, $2, $3)
					 ON CONFLICT (match_id) DO NOTHING`, id, a, b); err != nil {
					return err
				}
				res.created = &m
			}
		}
		if matchID == "" {
			err := tx.QueryRow(ctx, `SELECT match_id FROM gm_matches WHERE user_a = $1 AND user_b = $2`, a, b).Scan(&matchID)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		res.matched = matchID != ""
		res.matchID = matchID
		return nil
	})
	return res, err
}

// insertMatch makes the pair's match if it has none and returns the pair's
// match id either way.
func insertMatch(ctx context.Context, tx pgx.Tx, a, b string, beh behaviour) (string, bool, error) {
	if beh.upsertMatch {
		var id string
		var inserted bool
		err := tx.QueryRow(ctx,
			`INSERT INTO gm_matches (user_a, user_b, match_id) VALUES ($1, $2, $3)
			 ON CONFLICT (user_a, user_b) DO UPDATE SET match_id = EXCLUDED.match_id
			 RETURNING match_id, (xmax = 0)`, a, b, newMatchID()).Scan(&id, &inserted)
		return id, inserted, err
	}
	var id string
	err := tx.QueryRow(ctx,
		`INSERT INTO gm_matches (user_a, user_b, match_id) VALUES ($1, $2, $3)
		 ON CONFLICT (user_a, user_b) DO NOTHING RETURNING match_id`, a, b, newMatchID()).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", false, err
	}
	err = tx.QueryRow(ctx, `SELECT match_id FROM gm_matches WHERE user_a = $1 AND user_b = $2`, a, b).Scan(&id)
	return id, false, err
}

func (s *store) matchesOf(ctx context.Context, user string) ([]match, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT match_id, user_a, user_b FROM gm_matches WHERE user_a = $1
		 UNION ALL
		 SELECT match_id, user_a, user_b FROM gm_matches WHERE user_b = $1 AND user_a <> $1`, user)
	if err != nil {
		return nil, err
	}
	out := []match{}
	for rows.Next() {
		var id, a, b string
		if err := rows.Scan(&id, &a, &b); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, match{MatchID: id, Users: []string{a, b}})
	}
	rows.Close()
	return out, rows.Err()
}

// unsent lists outbox rows not yet delivered, oldest first.
func (s *store) unsent(ctx context.Context, limit int) ([]match, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT match_id, user_a, user_b FROM gm_outbox WHERE sent_at IS NULL
		 ORDER BY created_at LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	out := []match{}
	for rows.Next() {
		var id, a, b string
		if err := rows.Scan(&id, &a, &b); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, match{MatchID: id, Users: []string{a, b}})
	}
	rows.Close()
	return out, rows.Err()
}

// markSent records a delivery; with onlyUnsent it reports whether this call
// made the change.
func (s *store) markSent(ctx context.Context, matchID string, onlyUnsent bool) (bool, error) {
	q := `UPDATE gm_outbox SET sent_at = now() WHERE match_id = $1`
	if onlyUnsent {
		q += ` AND sent_at IS NULL`
	}
	tag, err := s.pool.Exec(ctx, q, matchID)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

func (s *store) markUnsent(ctx context.Context, matchID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE gm_outbox SET sent_at = NULL WHERE match_id = $1`, matchID)
	return err
}
