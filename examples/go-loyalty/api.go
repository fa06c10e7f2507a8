package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

type server struct {
	db   *pgxpool.Pool
	opts options
}

type event struct {
	EventID  string `json:"event_id"`
	Kind     string `json:"kind"`
	Customer string `json:"customer"`
	Points   int64  `json:"points"`
	Seq      int64  `json:"seq"`
}

var errNoCustomer = errors.New("no such customer")

func serve(ctx context.Context, dbURL, port string, opts options) {
	pool, err := openPool(ctx, dbURL, 16)
	if err != nil {
		return
	}
	defer pool.Close()
	s := &server{db: pool, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("PUT /customers/{customer}", s.createCustomer)
	mux.HandleFunc("GET /customers/{customer}", s.readCustomer)
	mux.HandleFunc("POST /earns", s.earn)
	mux.HandleFunc("GET /earns/{earn_id}", s.readEarn)
	mux.HandleFunc("POST /redemptions", s.redeem)
	mux.HandleFunc("GET /redemptions/{redeem_id}", s.readRedemption)
	mux.HandleFunc("POST /freezes", s.freeze)

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		log.Printf("listen: %v", err)
		// keep the process up so the harness sees why; retry the bind
		for err != nil && ctx.Err() == nil {
			time.Sleep(200 * time.Millisecond)
			ln, err = net.Listen("tcp", "127.0.0.1:"+port)
		}
		if err != nil {
			return
		}
	}
	go func() {
		<-ctx.Done()
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(c)
	}()
	log.Printf("serving on 127.0.0.1:%s", port)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("serve: %v", err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func unavailable(w http.ResponseWriter, idName, id string, err error) {
	log.Printf("%s %s: %v", idName, id, err)
	writeJSON(w, 503, map[string]any{idName: id, "status": "unknown", "error": err.Error()})
}

// work gives a request's store work a budget of its own that does not end
// when the client hangs up.
func work(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
}

func decode(r *http.Request, v any) bool {
	return json.NewDecoder(r.Body).Decode(v) == nil
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ---- customers ----------------------------------------------------------------

func (s *server) createCustomer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("customer")
	var body struct {
		Opening *int64 `json:"opening"`
	}
	if !validID(id) || !decode(r, &body) || body.Opening == nil || *body.Opening < 0 {
		writeJSON(w, 400, map[string]any{"error": "want {\"opening\": int >= 0}"})
		return
	}
	ctx, cancel := work(r)
	defer cancel()
	var balance int64
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO gl_customers (customer_id, balance) VALUES ($1, $2) ON CONFLICT (customer_id) DO NOTHING`, id, *body.Opening); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT balance FROM gl_customers WHERE customer_id = $1`, id).Scan(&balance)
	})
	if err != nil {
		unavailable(w, "customer", id, err)
		return
	}
	writeJSON(w, 200, map[string]any{"customer": id, "balance": balance})
}

type entry struct {
	EventID  string `json:"event_id"`
	Customer string `json:"customer"`
	Kind     string `json:"kind"`
	Points   int64  `json:"points"`
	Seq      int64  `json:"seq"`
}

func (s *server) readCustomer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("customer")
	ctx, cancel := work(r)
	defer cancel()
	var balance int64
	var frozen bool
	entries := []entry{}
	// one snapshot for the balance and the statement
	err := pgx.BeginTxFunc(ctx, s.db, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT balance, frozen FROM gl_customers WHERE customer_id = $1`, id).Scan(&balance, &frozen); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT event_id, kind, points, seq FROM gl_statement WHERE customer_id = $1 ORDER BY seq, event_id`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e := entry{Customer: id}
			if err := rows.Scan(&e.EventID, &e.Kind, &e.Points, &e.Seq); err != nil {
				return err
			}
			entries = append(entries, e)
		}
		return rows.Err()
	})
	if errors.Is(err, pgx.ErrNoRows) {
		writeJSON(w, 404, map[string]any{"customer": id, "error": "not found"})
		return
	}
	if err != nil {
		unavailable(w, "customer", id, err)
		return
	}
	writeJSON(w, 200, map[string]any{"customer": id, "balance": balance, "frozen": frozen, "entries": entries})
}

func (s *server) freeze(w http.ResponseWriter, r *http.Request) {
	var body struct {
		FreezeID string `json:"freeze_id"`
		Customer string `json:"customer"`
	}
	if !decode(r, &body) || !validID(body.FreezeID) || !validID(body.Customer) {
		writeJSON(w, 400, map[string]any{"error": "want {freeze_id, customer}"})
		return
	}
	ctx, cancel := work(r)
	defer cancel()
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO gl_freezes (freeze_id, customer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, body.FreezeID, body.Customer); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE gl_customers SET frozen = true WHERE customer_id = $1`, body.Customer)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNoCustomer
		}
		return nil
	})
	if errors.Is(err, errNoCustomer) {
		writeJSON(w, 404, map[string]any{"freeze_id": body.FreezeID, "error": "no such customer"})
		return
	}
	if err != nil {
		unavailable(w, "freeze_id", body.FreezeID, err)
		return
	}
	writeJSON(w, 200, map[string]any{"freeze_id": body.FreezeID, "customer": body.Customer, "status": "frozen"})
}

// ---- earns ----------------------------------------------------------------------

type earnRecord struct {
	EarnID   string `json:"earn_id"`
	Customer string `json:"customer"`
	Points   int64  `json:"points"`
	Status   string `json:"status"`
	Seq      int64  `json:"seq"`
}

func (s *server) loadEarn(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string) (*earnRecord, error) {
	rec := earnRecord{EarnID: id, Status: "accepted"}
	err := q.QueryRow(ctx, `SELECT customer_id, points, seq FROM gl_earns WHERE earn_id = $1`, id).Scan(&rec.Customer, &rec.Points, &rec.Seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

func (s *server) earn(w http.ResponseWriter, r *http.Request) {
	var body struct {
		EarnID   string `json:"earn_id"`
		Customer string `json:"customer"`
		Points   int64  `json:"points"`
	}
	if !decode(r, &body) || !validID(body.EarnID) || !validID(body.Customer) || body.Points <= 0 {
		writeJSON(w, 400, map[string]any{"error": "want {earn_id, customer, points > 0}"})
		return
	}
	ctx, cancel := work(r)
	defer cancel()

	// A request seen before gets its first answer.
	rec, err := s.loadEarn(ctx, s.db, body.EarnID)
	if err != nil {
		unavailable(w, "earn_id", body.EarnID, err)
		return
	}
	if rec == nil {
		err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
			if s.opts.earnFlow == "claim-first" {
				tag, err := tx.Exec(ctx, `INSERT INTO gl_earns (earn_id, customer_id, points) VALUES ($1, $2, $3) ON CONFLICT (earn_id) DO NOTHING`, body.EarnID, body.Customer, body.Points)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return nil // another attempt of this earn got there first
				}
			}
			var seq int64
			err := tx.QueryRow(ctx, `UPDATE gl_customers SET balance = balance + $2, version = version + 1 WHERE customer_id = $1 RETURNING version`, body.Customer, body.Points).Scan(&seq)
			if errors.Is(err, pgx.ErrNoRows) {
				return errNoCustomer
			}
			if err != nil {
				return err
			}
			if s.opts.earnFlow == "claim-first" {
				if _, err := tx.Exec(ctx, `UPDATE gl_earns SET seq = $2 WHERE earn_id = $1`, body.EarnID, seq); err != nil {
					return err
				}
			} else {
				if _, err := tx.Exec(ctx, `INSERT INTO gl_earns (earn_id, customer_id, points, seq) VALUES ($1, $2, $3, $4) ON CONFLICT (earn_id) DO NOTHING`, body.EarnID, body.Customer, body.Points, seq); err != nil {
					return err
				}
			}
			return addOutbox(ctx, tx, event{EventID: body.EarnID, Kind: "earn", Customer: body.Customer, Points: body.Points, Seq: seq})
		})
		if errors.Is(err, errNoCustomer) {
			writeJSON(w, 404, map[string]any{"earn_id": body.EarnID, "error": "no such customer"})
			return
		}
		if err != nil {
			unavailable(w, "earn_id", body.EarnID, err)
			return
		}
		rec, err = s.loadEarn(ctx, s.db, body.EarnID)
		if err == nil && rec == nil {
			err = errors.New("earn not found after commit")
		}
		if err != nil {
			unavailable(w, "earn_id", body.EarnID, err)
			return
		}
	}
	if rec.Customer != body.Customer || rec.Points != body.Points {
		writeJSON(w, 409, map[string]any{"earn_id": body.EarnID, "error": "earn_id reused with another body"})
		return
	}
	writeJSON(w, 200, rec)
}

func (s *server) readEarn(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("earn_id")
	ctx, cancel := work(r)
	defer cancel()
	rec, err := s.loadEarn(ctx, s.db, id)
	if err != nil {
		unavailable(w, "earn_id", id, err)
		return
	}
	if rec == nil {
		writeJSON(w, 404, map[string]any{"earn_id": id, "error": "not found"})
		return
	}
	writeJSON(w, 200, rec)
}

func addOutbox(ctx context.Context, tx pgx.Tx, ev event) error {
	payload, _ := json.Marshal(ev)
	_, err := tx.Exec(ctx, `INSERT INTO gl_outbox (event_id, customer_id, payload) VALUES ($1, $2, $3)`, ev.EventID, ev.Customer, string(payload))
	return err
}

// ---- redemptions ----------------------------------------------------------------

type redemptionRecord struct {
	RedeemID string `json:"redeem_id"`
	Customer string `json:"customer"`
	Points   int64  `json:"points"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
	Seq      *int64 `json:"seq,omitempty"`
}

func (s *server) loadRedemption(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string) (*redemptionRecord, error) {
	rec := redemptionRecord{RedeemID: id}
	var reason *string
	err := q.QueryRow(ctx, `SELECT customer_id, points, status, reason, seq FROM gl_redemptions WHERE redeem_id = $1`, id).Scan(&rec.Customer, &rec.Points, &rec.Status, &reason, &rec.Seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if reason != nil {
		rec.Reason = *reason
	}
	return &rec, nil
}

func (s *server) redeem(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RedeemID string `json:"redeem_id"`
		Customer string `json:"customer"`
		Points   int64  `json:"points"`
	}
	if !decode(r, &body) || !validID(body.RedeemID) || !validID(body.Customer) || body.Points <= 0 {
		writeJSON(w, 400, map[string]any{"error": "want {redeem_id, customer, points > 0}"})
		return
	}
	ctx, cancel := work(r)
	defer cancel()

	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO gl_redemptions (redeem_id, customer_id, points, status) VALUES ($1, $2, $3, 'pending') ON CONFLICT (redeem_id) DO NOTHING`, body.RedeemID, body.Customer, body.Points)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil // decided by an earlier attempt
		}
		var seq int64
		reason := ""
		if s.opts.balanceUpdate == "guarded" {
			err = tx.QueryRow(ctx, `UPDATE gl_customers SET balance = balance - $2, version = version + 1
				WHERE customer_id = $1 AND balance >= $2 AND NOT frozen RETURNING version`, body.Customer, body.Points).Scan(&seq)
			if errors.Is(err, pgx.ErrNoRows) {
				var frozen bool
				err = tx.QueryRow(ctx, `SELECT frozen FROM gl_customers WHERE customer_id = $1`, body.Customer).Scan(&frozen)
				if errors.Is(err, pgx.ErrNoRows) {
					return errNoCustomer
				}
				reason = "insufficient_points"
				if frozen {
					reason = "frozen"
				}
			}
			if err != nil {
				return err
			}
		} else {
			var balance int64
			var frozen bool
			err = tx.QueryRow(ctx, `SELECT balance, frozen FROM gl_customers WHERE customer_id = $1`, body.Customer).Scan(&balance, &frozen)
			if errors.Is(err, pgx.ErrNoRows) {
				return errNoCustomer
			}
			if err != nil {
				return err
			}
			switch {
			case frozen:
				reason = "frozen"
			case balance < body.Points:
				reason = "insufficient_points"
			default:
				err = tx.QueryRow(ctx, `UPDATE gl_customers SET balance = balance - $2, version = version + 1 WHERE customer_id = $1 AND NOT frozen RETURNING version`, body.Customer, body.Points).Scan(&seq)
				if errors.Is(err, pgx.ErrNoRows) {
					reason, err = "frozen", nil
				}
				if err != nil {
					return err
				}
			}
		}
		if reason != "" {
			_, err = tx.Exec(ctx, `UPDATE gl_redemptions SET status = 'rejected', reason = $2 WHERE redeem_id = $1`, body.RedeemID, reason)
			return err
		}
		if _, err = tx.Exec(ctx, `UPDATE gl_redemptions SET status = 'accepted', seq = $2 WHERE redeem_id = $1`, body.RedeemID, seq); err != nil {
			return err
		}
		return addOutbox(ctx, tx, event{EventID: body.RedeemID, Kind: "redeem", Customer: body.Customer, Points: body.Points, Seq: seq})
	})
	if errors.Is(err, errNoCustomer) {
		writeJSON(w, 404, map[string]any{"redeem_id": body.RedeemID, "error": "no such customer"})
		return
	}
	if err != nil {
		unavailable(w, "redeem_id", body.RedeemID, err)
		return
	}
	rec, err := s.loadRedemption(ctx, s.db, body.RedeemID)
	if err == nil && rec == nil {
		err = errors.New("redemption not found after commit")
	}
	if err != nil {
		unavailable(w, "redeem_id", body.RedeemID, err)
		return
	}
	if rec.Customer != body.Customer || rec.Points != body.Points {
		writeJSON(w, 409, map[string]any{"redeem_id": body.RedeemID, "error": "redeem_id reused with another body"})
		return
	}
	switch rec.Status {
	case "accepted":
		writeJSON(w, 200, rec)
	case "rejected":
		writeJSON(w, 409, rec)
	default:
		unavailable(w, "redeem_id", body.RedeemID, errors.New("redemption still "+rec.Status))
	}
}

func (s *server) readRedemption(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("redeem_id")
	ctx, cancel := work(r)
	defer cancel()
	rec, err := s.loadRedemption(ctx, s.db, id)
	if err != nil {
		unavailable(w, "redeem_id", id, err)
		return
	}
	if rec == nil {
		writeJSON(w, 404, map[string]any{"redeem_id": id, "error": "not found"})
		return
	}
	writeJSON(w, 200, rec)
}
