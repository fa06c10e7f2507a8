package main

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"sync"
)

type server struct {
	st      *store
	variant string

	// stale_cache only: what this replica last read or wrote, per key.
	mu    sync.Mutex
	cache map[string]string
}

func newServer(st *store, variant string) *server {
	return &server{st: st, variant: variant, cache: map[string]string{}}
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /kv/{key}", s.handleGet)
	mux.HandleFunc("PUT /kv/{key}", s.handlePut)
	mux.HandleFunc("POST /kv/{key}/cas", s.handleCas)
	return mux
}

// The work of a request outlives its client: a client that gives up must not
// abort a statement half-way (the store call has its own deadline).
func work(r *http.Request) context.Context { return context.WithoutCancel(r.Context()) }

type kvAnswer struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

func (s *server) handleGet(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if s.variant == "stale_cache" {
		if v, ok := s.cached(key); ok {
			writeJSON(w, http.StatusOK, kvAnswer{key, &v})
			return
		}
	}
	v, err := s.st.get(work(r), key)
	if err != nil {
		unavailable(w, "get", key, err)
		return
	}
	if v == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"key": key, "error": "no value"})
		return
	}
	s.remember(key, v)
	writeJSON(w, http.StatusOK, kvAnswer{key, v})
}

func (s *server) handlePut(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	var body struct {
		Value *string `json:"value"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if body.Value == nil {
		badRequest(w, "value must be a string")
		return
	}
	if err := s.st.put(work(r), key, *body.Value); err != nil {
		// The upsert may or may not have committed: indeterminate, never 200.
		unavailable(w, "put", key, err)
		return
	}
	s.remember(key, body.Value)
	writeJSON(w, http.StatusOK, kvAnswer{key, body.Value})
}

func (s *server) handleCas(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	var body struct {
		Expected *string `json:"expected"`
		New      *string `json:"new"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if body.New == nil {
		badRequest(w, "new must be a string")
		return
	}
	swapped, cur, err := s.st.cas(work(r), key, body.Expected, *body.New)
	if err != nil {
		unavailable(w, "cas", key, err)
		return
	}
	s.remember(key, cur)
	if swapped {
		writeJSON(w, http.StatusOK, kvAnswer{key, cur})
		return
	}
	// The function compared against cur, which is never expected; guard anyway:
	// a 409 carrying expected would be taken as indeterminate, so say 503.
	if (cur == nil) == (body.Expected == nil) && (cur == nil || *cur == *body.Expected) {
		unavailable(w, "cas", key, nil)
		return
	}
	writeJSON(w, http.StatusConflict, kvAnswer{key, cur})
}

func (s *server) cached(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.cache[key]
	return v, ok
}

// remember fills the stale_cache variant's cache; the correct variant keeps
// nothing in the replica.
func (s *server) remember(key string, v *string) {
	if s.variant != "stale_cache" || v == nil {
		return
	}
	s.mu.Lock()
	s.cache[key] = *v
	s.mu.Unlock()
}

func readJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	data, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		err = json.Unmarshal(data, dst)
	}
	if err != nil {
		badRequest(w, "body must be a JSON object: "+err.Error())
		return false
	}
	return true
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"error": msg})
}

func unavailable(w http.ResponseWriter, op, key string, err error) {
	if err != nil {
		log.Printf("%s %s: %v", op, key, err)
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "store unavailable; outcome unknown"})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
