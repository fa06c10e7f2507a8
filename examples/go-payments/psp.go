package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// pspTimeout bounds one charge call: a partner that is slow, blackholed or
// partitioned makes the outcome unknown, and the payment stays pending.
const pspTimeout = 3 * time.Second

// Outcome of one charge call, as far as the caller can tell.
type Outcome int

const (
	// Unknown: no definite answer (5xx, dropped connection, timeout, 422,
	// a body we do not understand). The charge may or may not have happened.
	Unknown Outcome = iota
	Captured
	Declined
)

// ChargeResult is what one call to POST /psp/charges told us.
type ChargeResult struct {
	Outcome  Outcome
	ChargeID string // when Captured
	Detail   string // when Unknown: why, for the log
}

// PSP calls the partner's payment provider.
type PSP struct {
	url     string
	variant string
	client  *http.Client
}

func newPSP(partnerURL, variant string) *PSP {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 16
	return &PSP{
		url:     strings.TrimRight(partnerURL, "/") + "/psp/charges",
		variant: variant,
		client:  &http.Client{Timeout: pspTimeout, Transport: transport},
	}
}

// IdempotencyKey is the key of every charge call for a payment: derived from
// the payment_id alone, so every retry, every replica and the reconciler
// send the same key, and the PSP charges at most once.
func IdempotencyKey(paymentID string) string { return "gp-charge-" + paymentID }

func (p *PSP) key(paymentID string) string {
	if p.variant == "key_per_attempt" {
		// The bug: a key per HTTP attempt (as a generic "add an idempotency
		// key to every request" middleware would make) protects only against
		// the transport resending one request, not against our own retries.
		var b [16]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	return IdempotencyKey(paymentID)
}

// Charge asks the PSP to charge amount for the payment. The body must be the
// same on every call with one key ({"reference", "amount"}, nothing else),
// or the PSP answers 422.
func (p *PSP) Charge(ctx context.Context, pay Payment) ChargeResult {
	body, _ := json.Marshal(map[string]any{"reference": pay.PaymentID, "amount": pay.Amount})
	ctx, cancel := context.WithTimeout(ctx, pspTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return ChargeResult{Detail: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", p.key(pay.PaymentID))
	resp, err := p.client.Do(req)
	if err != nil {
		return ChargeResult{Detail: err.Error()}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return ChargeResult{Detail: fmt.Sprintf("HTTP %d, body cut: %v", resp.StatusCode, err)}
	}
	var answer struct {
		ChargeID string `json:"charge_id"`
		Status   string `json:"status"`
	}
	_ = json.Unmarshal(raw, &answer)
	switch {
	case resp.StatusCode == http.StatusOK && answer.Status == "succeeded" && answer.ChargeID != "":
		return ChargeResult{Outcome: Captured, ChargeID: answer.ChargeID}
	case resp.StatusCode == http.StatusPaymentRequired && answer.Status == "declined":
		return ChargeResult{Outcome: Declined}
	default:
		return ChargeResult{Detail: fmt.Sprintf("HTTP %d %s", resp.StatusCode, bytes.TrimSpace(raw))}
	}
}
