package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Server is one replica.
type Server struct {
	variant string
	store   *pgxpool.Pool
	cache   *answerCache
	meta    *metaCache
}

// Answer is what a redemption request is answered with once decided.
type Answer struct {
	RedemptionID string `json:"redemption_id"`
	Coupon       string `json:"coupon"`
	User         string `json:"user"`
	Status       string `json:"status"`           // redeemed | rejected
	Reason       string `json:"reason,omitempty"` // exhausted | user_limit | disabled
}

func (a Answer) httpStatus() int {
	if a.Status == "redeemed" {
		return http.StatusOK
	}
	return http.StatusConflict
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("PUT /coupons/{coupon}", s.createCoupon)
	mux.HandleFunc("GET /coupons/{coupon}", s.readCoupon)
	mux.HandleFunc("POST /coupons/{coupon}/disable", s.disableCoupon)
	mux.HandleFunc("POST /redemptions", s.redeem)
	mux.HandleFunc("GET /redemptions/{redemption}", s.readRedemption)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// work gives a handler a context that outlives the client (a client that
// gives up must not abort a transaction half-way) with a budget of its own.
func work(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), d)
}

// ---------------------------------------------------------------- coupons

func (s *Server) createCoupon(w http.ResponseWriter, r *http.Request) {
	coupon := r.PathValue("coupon")
	var req struct {
		Limit *int `json:"limit"`
	}
	if !idPattern.MatchString(coupon) || json.NewDecoder(r.Body).Decode(&req) != nil || req.Limit == nil || *req.Limit < 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "want {\"limit\": int >= 0}"})
		return
	}
	ctx, cancel := work(r, 4*time.Second)
	defer cancel()
	var limit int
	err := pgx.BeginFunc(ctx, s.store, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO promo_coupons (coupon_id, max_redemptions, remaining)
			VALUES ($1, $2, $2) ON CONFLICT (coupon_id) DO NOTHING`, coupon, *req.Limit); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT max_redemptions FROM promo_coupons WHERE coupon_id = $1`, coupon).Scan(&limit)
	})
	if err != nil {
		log.Printf("create coupon %s: %v", coupon, err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"coupon": coupon, "error": "store unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"coupon": coupon, "limit": limit})
}

func (s *Server) readCoupon(w http.ResponseWriter, r *http.Request) {
	coupon := r.PathValue("coupon")
	ctx, cancel := work(r, 3*time.Second)
	defer cancel()
	var limit, remaining int
	var status string
	err := s.store.QueryRow(ctx, `SELECT max_redemptions, remaining, status FROM promo_coupons WHERE coupon_id = $1`,
		coupon).Scan(&limit, &remaining, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		writeJSON(w, http.StatusNotFound, map[string]any{"coupon": coupon, "error": "no such coupon"})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"coupon": coupon, "error": "store unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"coupon": coupon, "limit": limit, "remaining": remaining, "status": status})
}

func (s *Server) disableCoupon(w http.ResponseWriter, r *http.Request) {
	coupon := r.PathValue("coupon")
	ctx, cancel := work(r, 4*time.Second)
	defer cancel()
	tag, err := s.store.Exec(ctx, `UPDATE promo_coupons SET status = 'disabled' WHERE coupon_id = $1`, coupon)
	if err != nil {
		log.Printf("disable %s: %v", coupon, err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"coupon": coupon, "error": "store unavailable"})
		return
	}
	s.meta.forget(coupon)
	if tag.RowsAffected() == 0 {
		writeJSON(w, http.StatusNotFound, map[string]any{"coupon": coupon, "error": "no such coupon"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"coupon": coupon, "status": "disabled"})
}

// ------------------------------------------------------------ redemptions

func (s *Server) readRedemption(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("redemption")
	ctx, cancel := work(r, 3*time.Second)
	defer cancel()
	var a Answer
	var reason *string
	err := s.store.QueryRow(ctx, `SELECT redemption_id, coupon_id, user_id, status, reason
		FROM promo_redemptions WHERE redemption_id = $1`, id).Scan(&a.RedemptionID, &a.Coupon, &a.User, &a.Status, &reason)
	if errors.Is(err, pgx.ErrNoRows) {
		writeJSON(w, http.StatusNotFound, map[string]any{"redemption_id": id, "error": "no such redemption"})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"redemption_id": id, "error": "store unavailable"})
		return
	}
	if reason != nil {
		a.Reason = *reason
	}
	writeJSON(w, http.StatusOK, a)
}

type redeemRequest struct {
	RedemptionID string `json:"redemption_id"`
	Coupon       string `json:"coupon"`
	User         string `json:"user"`
}

var errConflict = errors.New("redemption_id already used with another coupon or user")
var errNoCoupon = errors.New("no such coupon")

func (s *Server) redeem(w http.ResponseWriter, r *http.Request) {
	var req redeemRequest
	if json.NewDecoder(r.Body).Decode(&req) != nil || !idPattern.MatchString(req.RedemptionID) ||
		!idPattern.MatchString(req.Coupon) || !idPattern.MatchString(req.User) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "want {redemption_id, coupon, user} (ids)"})
		return
	}
	ctx, cancel := work(r, 5*time.Second)
	defer cancel()

	if a, ok := s.cache.get(ctx, req.RedemptionID); ok && a.Coupon == req.Coupon && a.User == req.User {
		writeJSON(w, a.httpStatus(), a)
		return
	}

	a, err := s.decide(ctx, req)
	switch {
	case errors.Is(err, errConflict):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"redemption_id": req.RedemptionID, "error": err.Error()})
		return
	case errors.Is(err, errNoCoupon):
		writeJSON(w, http.StatusNotFound, map[string]any{"redemption_id": req.RedemptionID, "error": err.Error()})
		return
	case err != nil:
		// The transaction may or may not have committed: say so.
		log.Printf("redeem %s: %v", req.RedemptionID, err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"redemption_id": req.RedemptionID, "status": "unknown"})
		return
	}
	if s.variant != "variant_d" {
		s.cache.put(ctx, a)
	}
	writeJSON(w, a.httpStatus(), a)
}

// decide runs one redemption as a single transaction: the coupon row is
// locked for the whole decision, so every redemption of one coupon is
// decided one after the other.
func (s *Server) decide(ctx context.Context, req redeemRequest) (Answer, error) {
	var out Answer
	err := pgx.BeginFunc(ctx, s.store, func(tx pgx.Tx) error {
		var userHas bool
		if s.variant == "variant_a" {
			var err error
			if userHas, err = userRedeemed(ctx, tx, req); err != nil {
				return err
			}
		}

		var status string
		var remaining int
		err := tx.QueryRow(ctx, `SELECT status, remaining FROM promo_coupons WHERE coupon_id = $1 FOR UPDATE`,
			req.Coupon).Scan(&status, &remaining)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoCoupon
		}
		if err != nil {
			return err
		}

		// Already decided? Answer what was decided then.
		var prev Answer
		var reason *string
		err = tx.QueryRow(ctx, `SELECT redemption_id, coupon_id, user_id, status, reason
			FROM promo_redemptions WHERE redemption_id = $1`, req.RedemptionID).
			Scan(&prev.RedemptionID, &prev.Coupon, &prev.User, &prev.Status, &reason)
		if err == nil {
			if prev.Coupon != req.Coupon || prev.User != req.User {
				return errConflict
			}
			if reason != nil {
				prev.Reason = *reason
			}
			out = prev
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}

		if s.variant == "variant_c" {
			if status, err = s.meta.status(ctx, s.store, req.Coupon); err != nil {
				return err
			}
		}
		if s.variant != "variant_a" {
			if userHas, err = userRedeemed(ctx, tx, req); err != nil {
				return err
			}
		}

		a := Answer{RedemptionID: req.RedemptionID, Coupon: req.Coupon, User: req.User, Status: "rejected"}
		switch {
		case status != "active":
			a.Reason = "disabled"
		case remaining <= 0:
			a.Reason = "exhausted"
		case userHas:
			a.Reason = "user_limit"
		default:
			a.Status = "redeemed"
		}
		var reasonArg any
		if a.Reason != "" {
			reasonArg = a.Reason
		}
		if _, err := tx.Exec(ctx, `INSERT INTO promo_redemptions (redemption_id, coupon_id, user_id, status, reason)
			VALUES ($1, $2, $3, $4, $5)`, a.RedemptionID, a.Coupon, a.User, a.Status, reasonArg); err != nil {
			return err
		}
		if s.variant == "variant_d" {
			s.cache.put(ctx, a)
		}
		if a.Status == "redeemed" {
			if _, err := tx.Exec(ctx, `UPDATE promo_coupons SET remaining = remaining - 1 WHERE coupon_id = $1`,
				req.Coupon); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO promo_gift_outbox (redemption_id, coupon_id) VALUES ($1, $2)`,
				a.RedemptionID, a.Coupon); err != nil {
				return err
			}
		}
		out = a
		return nil
	})
	return out, err
}

func userRedeemed(ctx context.Context, tx pgx.Tx, req redeemRequest) (bool, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM promo_redemptions
		WHERE coupon_id = $1 AND user_id = $2 AND status = 'redeemed' AND redemption_id <> $3`,
		req.Coupon, req.User, req.RedemptionID).Scan(&n)
	return n > 0, err
}

// ------------------------------------------------------ coupon metadata

// metaCache keeps coupon statuses this replica has looked up.
type metaCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]metaEntry
}

type metaEntry struct {
	status string
	at     time.Time
}

func newMetaCache(ttl time.Duration) *metaCache {
	return &metaCache{ttl: ttl, m: map[string]metaEntry{}}
}

func (c *metaCache) status(ctx context.Context, db *pgxpool.Pool, coupon string) (string, error) {
	c.mu.Lock()
	e, ok := c.m[coupon]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.status, nil
	}
	var status string
	if err := db.QueryRow(ctx, `SELECT status FROM promo_coupons WHERE coupon_id = $1`, coupon).Scan(&status); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.m[coupon] = metaEntry{status: status, at: time.Now()}
	c.mu.Unlock()
	return status, nil
}

func (c *metaCache) forget(coupon string) {
	c.mu.Lock()
	delete(c.m, coupon)
	c.mu.Unlock()
}
