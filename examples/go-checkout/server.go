package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net"
	"net/http"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var idRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func serve(ctx context.Context, dbURL, port, variant string) {
	pool, err := openStore(ctx, dbURL, 16)
	if err != nil {
		log.Printf("stopping before ready: %v", err)
		return
	}
	defer pool.Close()
	h := &handler{pool: pool, variant: variant}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("PUT /inventory/{sku}", h.putStock)
	mux.HandleFunc("GET /inventory/{sku}", h.getStock)
	mux.HandleFunc("POST /orders", h.postOrder)
	mux.HandleFunc("GET /orders/{order_id}", h.getOrder)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	// Listen only once the schema is in place: GET /health answering means ready.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	log.Printf("serving on 127.0.0.1:%s (variant %s)", port, variant)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("serve: %v", err)
	}
}

type handler struct {
	pool    *pgxpool.Pool
	variant string
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// work returns a context that outlives the client: Go cancels r.Context() when the
// client disconnects, and an order half-way through its transaction must still end
// (commit or roll back) on its own deadline, not on the client's.
func work(r *http.Request) context.Context { return context.WithoutCancel(r.Context()) }

func (h *handler) putStock(w http.ResponseWriter, r *http.Request) {
	sku := r.PathValue("sku")
	var body struct {
		Available *int64 `json:"available"`
	}
	if !idRe.MatchString(sku) || json.NewDecoder(r.Body).Decode(&body) != nil || body.Available == nil || *body.Available < 0 {
		writeJSON(w, 400, map[string]any{"error": "want {\"available\": int >= 0} and an id as sku"})
		return
	}
	if err := setStock(work(r), h.pool, sku, *body.Available); err != nil {
		log.Printf("PUT /inventory/%s: %v", sku, err)
		writeJSON(w, 503, map[string]any{"error": "store unavailable"})
		return
	}
	writeJSON(w, 200, map[string]any{"sku": sku, "available": *body.Available})
}

func (h *handler) getStock(w http.ResponseWriter, r *http.Request) {
	sku := r.PathValue("sku")
	available, err := readStock(work(r), h.pool, sku)
	if errors.Is(err, pgx.ErrNoRows) {
		writeJSON(w, 404, map[string]any{"error": "unknown sku"})
		return
	}
	if err != nil {
		log.Printf("GET /inventory/%s: %v", sku, err)
		writeJSON(w, 503, map[string]any{"error": "store unavailable"})
		return
	}
	writeJSON(w, 200, map[string]any{"sku": sku, "available": available})
}

func (h *handler) postOrder(w http.ResponseWriter, r *http.Request) {
	var body struct {
		OrderID string `json:"order_id"`
		SKU     string `json:"sku"`
		Qty     int64  `json:"qty"`
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil || !idRe.MatchString(body.OrderID) ||
		!idRe.MatchString(body.SKU) || body.Qty <= 0 {
		writeJSON(w, 400, map[string]any{"error": "want {\"order_id\": id, \"sku\": id, \"qty\": int > 0}"})
		return
	}
	o, err := placeOrder(work(r), h.pool, h.variant, order{OrderID: body.OrderID, SKU: body.SKU, Qty: body.Qty})
	switch {
	case errors.Is(err, errConflict):
		writeJSON(w, 409, map[string]any{"error": "order_id already used with another sku or qty"})
	case err != nil:
		// Unknown outcome (the commit may or may not have landed): indeterminate.
		// A resend of the order_id reads the decision if there was one.
		log.Printf("POST /orders %s: %v", body.OrderID, err)
		writeJSON(w, 503, map[string]any{"order_id": body.OrderID, "error": "store unavailable, outcome unknown"})
	default:
		answerOrder(w, o)
	}
}

func answerOrder(w http.ResponseWriter, o order) {
	switch o.Status {
	case "accepted":
		writeJSON(w, 200, map[string]any{"order_id": o.OrderID, "status": "accepted"})
	case "rejected":
		writeJSON(w, 409, map[string]any{"order_id": o.OrderID, "status": "rejected", "reason": "out_of_stock"})
	default: // never committed in this state; defensive
		writeJSON(w, 503, map[string]any{"order_id": o.OrderID, "status": o.Status})
	}
}

func (h *handler) getOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("order_id")
	o, err := readOrder(work(r), h.pool, id)
	if errors.Is(err, pgx.ErrNoRows) {
		writeJSON(w, 404, map[string]any{"error": "unknown order", "order_id": id})
		return
	}
	if err != nil {
		log.Printf("GET /orders/%s: %v", id, err)
		writeJSON(w, 503, map[string]any{"error": "store unavailable"})
		return
	}
	writeJSON(w, 200, map[string]any{"order_id": o.OrderID, "sku": o.SKU, "qty": o.Qty, "status": o.Status})
}
