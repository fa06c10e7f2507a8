package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

const storeDeadline = 3 * time.Second

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("PUT /jobs/{job_id}", s.enqueue)
	mux.HandleFunc("GET /jobs/{job_id}", s.readJob)
	mux.HandleFunc("POST /jobs/{job_id}/claim", s.claim)
	mux.HandleFunc("POST /jobs/{job_id}/heartbeat", s.heartbeat)
	mux.HandleFunc("POST /jobs/{job_id}/complete", s.complete)
	mux.HandleFunc("POST /jobs/{job_id}/release", s.release)
	mux.HandleFunc("GET /requests/{request_id}", s.readRequest)
	return mux
}

type obj = map[string]any

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func unavailable(w http.ResponseWriter, where string, err error) {
	log.Printf("go-jobs: %s: %v", where, err)
	writeJSON(w, http.StatusServiceUnavailable, obj{"error": "store unavailable"})
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, obj{"error": msg})
}

// storeCtx is independent of the client's request: work that reached the
// store finishes (or times out) whether or not the client is still there.
func storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), storeDeadline)
}

func decode(r *http.Request, into any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16))
	return dec.Decode(into)
}

func (s *server) health(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, obj{"status": "starting"})
		return
	}
	writeJSON(w, http.StatusOK, obj{"status": "ok"})
}

// ---- jobs -----------------------------------------------------------------

func (s *server) enqueue(w http.ResponseWriter, r *http.Request) {
	jobID := r.PathValue("job_id")
	var b struct {
		Queue   string `json:"queue"`
		Payload string `json:"payload"`
	}
	if !idPattern.MatchString(jobID) || decode(r, &b) != nil || b.Queue == "" {
		badRequest(w, "want {queue, payload}")
		return
	}
	ctx, cancel := storeCtx()
	defer cancel()
	var queue, payload string
	err := s.pool.QueryRow(ctx, `
WITH ins AS (
    INSERT INTO jq_jobs (job_id, queue, payload, state) VALUES ($1, $2, $3, 'queued')
    ON CONFLICT (job_id) DO NOTHING
    RETURNING queue, payload
)
SELECT queue, payload FROM ins
UNION ALL
SELECT queue, payload FROM jq_jobs WHERE job_id = $1 AND NOT EXISTS (SELECT 1 FROM ins)`,
		jobID, b.Queue, b.Payload).Scan(&queue, &payload)
	if err != nil {
		unavailable(w, "enqueue", err)
		return
	}
	if queue != b.Queue || payload != b.Payload {
		writeJSON(w, http.StatusConflict, obj{"job_id": jobID, "error": "job_id already used with another body"})
		return
	}
	writeJSON(w, http.StatusOK, obj{"job_id": jobID, "queue": queue, "status": "queued"})
}

func (s *server) readJob(w http.ResponseWriter, r *http.Request) {
	jobID := r.PathValue("job_id")
	ctx, cancel := storeCtx()
	defer cancel()
	var (
		queue, state                string
		token                       int64
		worker, result, completedBy *string
		claims, completions         int64
	)
	err := s.pool.QueryRow(ctx, `
SELECT queue, state, token, worker, claims, result, completed_by,
       (SELECT count(*) FROM jq_results r WHERE r.job_id = j.job_id)
FROM jq_jobs j WHERE job_id = $1`, jobID).Scan(
		&queue, &state, &token, &worker, &claims, &result, &completedBy, &completions)
	if errors.Is(err, pgx.ErrNoRows) {
		writeJSON(w, http.StatusNotFound, obj{"job_id": jobID, "error": "no such job"})
		return
	}
	if err != nil {
		unavailable(w, "read job", err)
		return
	}
	writeJSON(w, http.StatusOK, obj{
		"job_id": jobID, "queue": queue, "state": state, "token": token, "worker": worker,
		"claims": claims, "completions": completions, "result": result, "completed_by": completedBy,
	})
}

func (s *server) readRequest(w http.ResponseWriter, r *http.Request) {
	reqID := r.PathValue("request_id")
	ctx, cancel := storeCtx()
	defer cancel()
	var op, jobID, outcome string
	var token *int64
	err := s.pool.QueryRow(ctx,
		`SELECT op, job_id, outcome, token FROM jq_requests WHERE request_id = $1`, reqID).
		Scan(&op, &jobID, &outcome, &token)
	if errors.Is(err, pgx.ErrNoRows) {
		writeJSON(w, http.StatusNotFound, obj{"request_id": reqID, "error": "no such request"})
		return
	}
	if err != nil {
		unavailable(w, "read request", err)
		return
	}
	writeJSON(w, http.StatusOK, obj{"request_id": reqID, "op": op, "job_id": jobID, "status": outcome, "token": token})
}

// ---- claims ---------------------------------------------------------------

type jobRow struct {
	state  string
	token  int64
	worker string
	live   bool
}

func loadJob(ctx context.Context, tx pgx.Tx, jobID string, lock bool) (*jobRow, error) {
	q := `SELECT state, token, COALESCE(worker, ''), COALESCE(expires_at > clock_timestamp(), false)
FROM jq_jobs WHERE job_id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	var j jobRow
	err := tx.QueryRow(ctx, q, jobID).Scan(&j.state, &j.token, &j.worker, &j.live)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &j, nil
}

type stored struct {
	http   int
	answer []byte
}

func storedAnswer(ctx context.Context, tx pgx.Tx, reqID string) (*stored, error) {
	var st stored
	err := tx.QueryRow(ctx, `SELECT http, answer::text FROM jq_requests WHERE request_id = $1`, reqID).
		Scan(&st.http, &st.answer)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

func saveAnswer(ctx context.Context, tx pgx.Tx, reqID, op, jobID, outcome string, token *int64, status int, answer obj) ([]byte, error) {
	raw, err := json.Marshal(answer)
	if err != nil {
		return nil, err
	}
	_, err = tx.Exec(ctx, `
INSERT INTO jq_requests (request_id, op, job_id, outcome, token, http, answer)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
ON CONFLICT (request_id) DO NOTHING`, reqID, op, jobID, outcome, token, status, string(raw))
	return raw, err
}

type claimBody struct {
	ClaimID string `json:"claim_id"`
	Worker  string `json:"worker"`
	LeaseMS int64  `json:"lease_ms"`
}

func (s *server) claim(w http.ResponseWriter, r *http.Request) {
	jobID := r.PathValue("job_id")
	var b claimBody
	if !idPattern.MatchString(jobID) || decode(r, &b) != nil || !idPattern.MatchString(b.ClaimID) ||
		b.Worker == "" || b.LeaseMS <= 0 || b.LeaseMS > 600000 {
		badRequest(w, "want {claim_id, worker, lease_ms}")
		return
	}
	ctx, cancel := storeCtx()
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		unavailable(w, "claim", err)
		return
	}
	defer tx.Rollback(context.Background())

	job, err := loadJob(ctx, tx, jobID, s.variant != "variant_a")
	if err != nil {
		unavailable(w, "claim", err)
		return
	}
	if job == nil {
		writeJSON(w, http.StatusNotFound, obj{"claim_id": b.ClaimID, "job_id": jobID, "error": "no such job"})
		return
	}
	if st, err := storedAnswer(ctx, tx, b.ClaimID); err != nil {
		unavailable(w, "claim", err)
		return
	} else if st != nil {
		writeRaw(w, st.http, st.answer)
		return
	}

	var (
		status  int
		outcome string
		answer  obj
		token   *int64
	)
	switch {
	case job.state == "done":
		status, outcome = http.StatusConflict, "done"
		answer = obj{"claim_id": b.ClaimID, "job_id": jobID, "status": "done"}
	case job.state == "claimed" && job.live:
		status, outcome = http.StatusConflict, "busy"
		answer = obj{"claim_id": b.ClaimID, "job_id": jobID, "status": "busy"}
	default:
		next := job.token + 1
		if _, err := tx.Exec(ctx, `
UPDATE jq_jobs SET state = 'claimed', token = $2, worker = $3,
       claimed_at = clock_timestamp(),
       expires_at = clock_timestamp() + $4 * interval '1 millisecond',
       claims = claims + 1
WHERE job_id = $1`, jobID, next, b.Worker, b.LeaseMS); err != nil {
			unavailable(w, "claim", err)
			return
		}
		status, outcome, token = http.StatusOK, "claimed", &next
		answer = obj{"claim_id": b.ClaimID, "job_id": jobID, "worker": b.Worker,
			"lease_ms": b.LeaseMS, "token": next, "status": "claimed"}
	}
	raw, err := saveAnswer(ctx, tx, b.ClaimID, "claim", jobID, outcome, token, status, answer)
	if err != nil {
		unavailable(w, "claim", err)
		return
	}
	if err := tx.Commit(ctx); err != nil {
		unavailable(w, "claim commit", err)
		return
	}
	writeRaw(w, status, raw)
}

// holderBody is what heartbeat, complete and release carry: the request id
// (under the name of each), the claimant and its token.
type holderBody struct {
	Worker  string `json:"worker"`
	Token   int64  `json:"token"`
	LeaseMS int64  `json:"lease_ms"`
	Result  string `json:"result"`
}

func decodeHolder(r *http.Request, idField string) (string, holderBody, bool) {
	var raw map[string]json.RawMessage
	if decode(r, &raw) != nil {
		return "", holderBody{}, false
	}
	var id string
	if json.Unmarshal(raw[idField], &id) != nil || !idPattern.MatchString(id) {
		return "", holderBody{}, false
	}
	var b holderBody
	if json.Unmarshal(raw["worker"], &b.Worker) != nil || b.Worker == "" {
		return "", holderBody{}, false
	}
	if json.Unmarshal(raw["token"], &b.Token) != nil {
		return "", holderBody{}, false
	}
	if v, ok := raw["lease_ms"]; ok && json.Unmarshal(v, &b.LeaseMS) != nil {
		return "", holderBody{}, false
	}
	if v, ok := raw["result"]; ok && json.Unmarshal(v, &b.Result) != nil {
		return "", holderBody{}, false
	}
	return id, b, true
}

func (j *jobRow) heldBy(b holderBody) bool {
	return j.state == "claimed" && j.live && j.token == b.Token && j.worker == b.Worker
}

func (s *server) heartbeat(w http.ResponseWriter, r *http.Request) {
	jobID := r.PathValue("job_id")
	hbID, b, ok := decodeHolder(r, "heartbeat_id")
	if !ok || b.LeaseMS <= 0 || b.LeaseMS > 600000 {
		badRequest(w, "want {heartbeat_id, worker, token, lease_ms}")
		return
	}
	ctx, cancel := storeCtx()
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		unavailable(w, "heartbeat", err)
		return
	}
	defer tx.Rollback(context.Background())
	job, err := loadJob(ctx, tx, jobID, true)
	if err != nil {
		unavailable(w, "heartbeat", err)
		return
	}
	if job == nil {
		writeJSON(w, http.StatusNotFound, obj{"heartbeat_id": hbID, "job_id": jobID, "error": "no such job"})
		return
	}
	if st, err := storedAnswer(ctx, tx, hbID); err != nil {
		unavailable(w, "heartbeat", err)
		return
	} else if st != nil {
		writeRaw(w, st.http, st.answer)
		return
	}
	status, outcome := http.StatusConflict, "stale"
	answer := obj{"heartbeat_id": hbID, "job_id": jobID, "status": "stale"}
	var token *int64
	if job.heldBy(b) {
		extend := `UPDATE jq_jobs SET expires_at = clock_timestamp() + $2 * interval '1 millisecond' WHERE job_id = $1`
		if s.variant == "variant_c" {
			extend = `UPDATE jq_jobs SET expires_at = claimed_at + $2 * interval '1 millisecond' WHERE job_id = $1`
		}
		if _, err := tx.Exec(ctx, extend, jobID, b.LeaseMS); err != nil {
			unavailable(w, "heartbeat", err)
			return
		}
		status, outcome, token = http.StatusOK, "extended", &b.Token
		answer = obj{"heartbeat_id": hbID, "job_id": jobID, "worker": b.Worker, "token": b.Token,
			"lease_ms": b.LeaseMS, "status": "extended"}
	}
	raw, err := saveAnswer(ctx, tx, hbID, "heartbeat", jobID, outcome, token, status, answer)
	if err != nil {
		unavailable(w, "heartbeat", err)
		return
	}
	if err := tx.Commit(ctx); err != nil {
		unavailable(w, "heartbeat commit", err)
		return
	}
	writeRaw(w, status, raw)
}

func (s *server) complete(w http.ResponseWriter, r *http.Request) {
	jobID := r.PathValue("job_id")
	cID, b, ok := decodeHolder(r, "complete_id")
	if !ok {
		badRequest(w, "want {complete_id, worker, token, result}")
		return
	}
	ctx, cancel := storeCtx()
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		unavailable(w, "complete", err)
		return
	}
	defer tx.Rollback(context.Background())
	job, err := loadJob(ctx, tx, jobID, true)
	if err != nil {
		unavailable(w, "complete", err)
		return
	}
	if job == nil {
		writeJSON(w, http.StatusNotFound, obj{"complete_id": cID, "job_id": jobID, "error": "no such job"})
		return
	}
	if s.variant != "variant_b" {
		if st, err := storedAnswer(ctx, tx, cID); err != nil {
			unavailable(w, "complete", err)
			return
		} else if st != nil {
			writeRaw(w, st.http, st.answer)
			return
		}
	}
	if !job.heldBy(b) {
		answer := obj{"complete_id": cID, "job_id": jobID, "status": "stale"}
		raw, err := saveAnswer(ctx, tx, cID, "complete", jobID, "stale", nil, http.StatusConflict, answer)
		if err != nil {
			unavailable(w, "complete", err)
			return
		}
		if err := tx.Commit(ctx); err != nil {
			unavailable(w, "complete commit", err)
			return
		}
		writeRaw(w, http.StatusConflict, raw)
		return
	}
	if _, err := tx.Exec(ctx,
		`INSERT INTO jq_results (job_id, complete_id, token, result) VALUES ($1, $2, $3, $4)`,
		jobID, cID, b.Token, b.Result); err != nil {
		unavailable(w, "complete", err)
		return
	}
	if s.variant == "variant_d" {
		if err := tx.Commit(ctx); err != nil {
			unavailable(w, "complete commit", err)
			return
		}
		tx, err = s.pool.Begin(ctx)
		if err != nil {
			unavailable(w, "complete", err)
			return
		}
		defer tx.Rollback(context.Background())
		if _, err := loadJob(ctx, tx, jobID, true); err != nil {
			unavailable(w, "complete", err)
			return
		}
	}
	if _, err := tx.Exec(ctx, `
UPDATE jq_jobs SET state = 'done', result = $2, completed_by = $3, worker = NULL,
       claimed_at = NULL, expires_at = NULL
WHERE job_id = $1`, jobID, b.Result, cID); err != nil {
		unavailable(w, "complete", err)
		return
	}
	answer := obj{"complete_id": cID, "job_id": jobID, "worker": b.Worker, "token": b.Token,
		"result": b.Result, "status": "completed"}
	raw, err := saveAnswer(ctx, tx, cID, "complete", jobID, "completed", &b.Token, http.StatusOK, answer)
	if err != nil {
		unavailable(w, "complete", err)
		return
	}
	if err := tx.Commit(ctx); err != nil {
		unavailable(w, "complete commit", err)
		return
	}
	writeRaw(w, http.StatusOK, raw)
}

func (s *server) release(w http.ResponseWriter, r *http.Request) {
	jobID := r.PathValue("job_id")
	relID, b, ok := decodeHolder(r, "release_id")
	if !ok {
		badRequest(w, "want {release_id, worker, token}")
		return
	}
	ctx, cancel := storeCtx()
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		unavailable(w, "release", err)
		return
	}
	defer tx.Rollback(context.Background())
	job, err := loadJob(ctx, tx, jobID, true)
	if err != nil {
		unavailable(w, "release", err)
		return
	}
	if job == nil {
		writeJSON(w, http.StatusNotFound, obj{"release_id": relID, "job_id": jobID, "error": "no such job"})
		return
	}
	if st, err := storedAnswer(ctx, tx, relID); err != nil {
		unavailable(w, "release", err)
		return
	} else if st != nil {
		writeRaw(w, st.http, st.answer)
		return
	}
	status, outcome := http.StatusConflict, "stale"
	answer := obj{"release_id": relID, "job_id": jobID, "status": "stale"}
	var token *int64
	if job.heldBy(b) {
		if _, err := tx.Exec(ctx, `
UPDATE jq_jobs SET state = 'queued', worker = NULL, claimed_at = NULL, expires_at = NULL
WHERE job_id = $1`, jobID); err != nil {
			unavailable(w, "release", err)
			return
		}
		status, outcome, token = http.StatusOK, "released", &b.Token
		answer = obj{"release_id": relID, "job_id": jobID, "worker": b.Worker, "token": b.Token, "status": "released"}
	}
	raw, err := saveAnswer(ctx, tx, relID, "release", jobID, outcome, token, status, answer)
	if err != nil {
		unavailable(w, "release", err)
		return
	}
	if err := tx.Commit(ctx); err != nil {
		unavailable(w, "release commit", err)
		return
	}
	writeRaw(w, status, raw)
}
