package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	pollEvery      = 50 * time.Millisecond
	partnerTimeout = 2 * time.Second
	maxBackoff     = time.Second
	batchSize      = 64
	parallel       = 8
)

// runShipper is the outbox relay: it ships every accepted order that is not yet
// marked shipped, with Idempotency-Key gc-ship-<order_id> and the same body every
// time, and marks it shipped only after the warehouse answered 200. A crash between
// the shipment and the mark resends with the same key: the warehouse replays its
// stored answer and ships nothing new.
func runShipper(ctx context.Context, dbURL, partnerURL string) {
	pool, err := openStore(ctx, dbURL, 4)
	if err != nil {
		log.Printf("stopping before ready: %v", err)
		return
	}
	defer pool.Close()
	client := &http.Client{Timeout: partnerTimeout}
	url := strings.TrimRight(partnerURL, "/") + "/warehouse/shipments"
	var mu sync.Mutex
	type retry struct {
		next    time.Time
		backoff time.Duration
	}
	waiting := map[string]retry{} // per order: when to try again after a failure
	log.Printf("shipper running")
	for ctx.Err() == nil {
		due, err := dueShipments(ctx, pool, batchSize)
		if err != nil {
			log.Printf("reading the outbox: %v", err)
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		now := time.Now()
		sem := make(chan struct{}, parallel)
		var wg sync.WaitGroup
		for _, s := range due {
			mu.Lock()
			rt, ok := waiting[s.OrderID]
			mu.Unlock()
			if ok && now.Before(rt.next) {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func(s shipment, rt retry) {
				defer wg.Done()
				defer func() { <-sem }()
				id, err := ship(ctx, client, url, s)
				if err == nil {
					err = markShipped(ctx, pool, s.OrderID, id)
				}
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					delete(waiting, s.OrderID)
					return
				}
				log.Printf("shipping %s: %v (will retry)", s.OrderID, err)
				b := rt.backoff * 2
				if b == 0 {
					b = 100 * time.Millisecond
				}
				if b > maxBackoff {
					b = maxBackoff
				}
				waiting[s.OrderID] = retry{next: time.Now().Add(b), backoff: b}
			}(s, rt)
		}
		wg.Wait()
		mu.Lock()
		if len(due) == 0 && len(waiting) > 0 {
			waiting = map[string]retry{}
		}
		mu.Unlock()
		sleep(ctx, pollEvery)
	}
}

func ship(ctx context.Context, client *http.Client, url string, s shipment) (string, error) {
	// The body must be byte-for-byte the same on every attempt (the key's stored body).
	body, _ := json.Marshal(struct {
		OrderID string `json:"order_id"`
		SKU     string `json:"sku"`
		Qty     int64  `json:"qty"`
	}{s.OrderID, s.SKU, s.Qty})
	ctx, cancel := context.WithTimeout(ctx, partnerTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "gc-ship-"+s.OrderID)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("warehouse answered %d: %s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	var ans struct {
		ShipmentID string `json:"shipment_id"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.ShipmentID == "" {
		return "", fmt.Errorf("warehouse answered 200 without a shipment_id: %s", raw)
	}
	return ans.ShipmentID, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
