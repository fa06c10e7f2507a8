package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// relay ships one gift per accepted redemption: it reads the outbox rows the
// redemption transactions wrote and calls the partner's warehouse with an
// Idempotency-Key derived from the redemption, so a call repeated after a
// crash or a lost answer ships nothing new.
func relay(ctx context.Context, variant, dbURL, partnerURL string) {
	store := openStore(ctx, dbURL)
	if store == nil {
		return
	}
	defer store.Close()
	client := &http.Client{Timeout: 3 * time.Second}
	log.Printf("go-promo relay (%s) started", variant)
	for ctx.Err() == nil {
		n, err := relayOnce(ctx, variant, store, client, partnerURL)
		if err != nil {
			log.Printf("relay: %v", err)
		}
		wait := 100 * time.Millisecond
		if err != nil || n == 0 {
			wait = 200 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

type gift struct {
	redemptionID string
	coupon       string
}

func relayOnce(ctx context.Context, variant string, store *pgxpool.Pool, client *http.Client, partnerURL string) (int, error) {
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	rows, err := store.Query(qctx, `SELECT redemption_id, coupon_id FROM promo_gift_outbox
		WHERE sent_at IS NULL ORDER BY created_at LIMIT 20`)
	if err != nil {
		cancel()
		return 0, err
	}
	var batch []gift
	for rows.Next() {
		var g gift
		if err := rows.Scan(&g.redemptionID, &g.coupon); err != nil {
			rows.Close()
			cancel()
			return 0, err
		}
		batch = append(batch, g)
	}
	rows.Close()
	cancel()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(batch) == 0 {
		return 0, nil
	}

	var done []string
	for _, g := range batch {
		if ctx.Err() != nil {
			break
		}
		err := ship(ctx, client, partnerURL, g)
		if err != nil {
			log.Printf("ship %s: %v", g.redemptionID, err)
			if variant != "variant_b" {
				markAttempt(ctx, store, g.redemptionID)
				continue
			}
		}
		done = append(done, g.redemptionID)
	}
	if len(done) > 0 {
		uctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if _, err := store.Exec(uctx, `UPDATE promo_gift_outbox SET sent_at = now(), attempts = attempts + 1
			WHERE redemption_id = ANY($1) AND sent_at IS NULL`, done); err != nil {
			return len(done), err
		}
	}
	return len(done), nil
}

func markAttempt(ctx context.Context, store *pgxpool.Pool, id string) {
	uctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, _ = store.Exec(uctx, `UPDATE promo_gift_outbox SET attempts = attempts + 1 WHERE redemption_id = $1`, id)
}

func ship(ctx context.Context, client *http.Client, partnerURL string, g gift) error {
	body, _ := json.Marshal(map[string]any{"order_id": g.redemptionID, "sku": g.coupon, "qty": 1})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, partnerURL+"/warehouse/shipments", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "promo-gift-"+g.redemptionID)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("warehouse answered %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}
