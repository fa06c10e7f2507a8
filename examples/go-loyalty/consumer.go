package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
)

const group = "go-loyalty-statement"

type consumer struct {
	db      *pgxpool.Pool
	partner string
	http    *http.Client
	opts    options
	sent    map[string]bool // vouchers this process has sent
}

// consume reads the events topic from the group's committed offset, applies
// each event to the statement, sends a voucher for each redemption, and
// commits its progress to Kafka once a second.
func consume(ctx context.Context, dbURL, bootstrap, partnerURL string, opts options) {
	pool, err := openPool(ctx, dbURL, 4)
	if err != nil {
		return
	}
	defer pool.Close()
	client := kafkaClient(bootstrap)
	if ensureTopic(ctx, client) != nil {
		return
	}
	var start int64
	err = retryKafka(ctx, "fetch committed offset", func(c context.Context) error {
		res, err := client.OffsetFetch(c, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0}}})
		if err != nil {
			return err
		}
		if res.Error != nil {
			return res.Error
		}
		start = kafka.FirstOffset
		for _, p := range res.Topics[topic] {
			if p.Partition == 0 {
				if p.Error != nil {
					return p.Error
				}
				if p.CommittedOffset >= 0 {
					start = p.CommittedOffset
				}
			}
		}
		return nil
	})
	if err != nil {
		return
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        []string{bootstrap},
		Topic:          topic,
		Partition:      0,
		MinBytes:       1,
		MaxBytes:       1 << 20,
		MaxWait:        200 * time.Millisecond,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: 500 * time.Millisecond,
		Dialer:         &kafka.Dialer{Timeout: 3 * time.Second},
	})
	defer r.Close()
	if err := r.SetOffset(start); err != nil {
		log.Printf("set offset: %v", err)
		return
	}
	log.Printf("consuming %s from offset %d", topic, start)

	c := &consumer{db: pool, partner: partnerURL, http: &http.Client{Timeout: 3 * time.Second}, opts: opts, sent: map[string]bool{}}

	var done atomic.Int64 // next offset to read once everything before it is applied
	done.Store(-1)
	go c.commitLoop(ctx, client, &done)

	for ctx.Err() == nil {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Printf("fetch: %v", err)
				sleep(ctx, 200*time.Millisecond)
			}
			continue
		}
		var ev event
		if err := json.Unmarshal(m.Value, &ev); err != nil || ev.EventID == "" {
			log.Printf("skipping malformed event at offset %d: %v", m.Offset, err)
		} else if err := c.apply(ctx, ev); err != nil {
			return // only when ctx ended
		}
		done.Store(m.Offset + 1)
	}
}

func (c *consumer) commitLoop(ctx context.Context, client *kafka.Client, done *atomic.Int64) {
	var committed int64 = -1
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		next := done.Load()
		if next < 0 || next == committed {
			continue
		}
		cc, cancel := context.WithTimeout(ctx, 3*time.Second)
		res, err := client.OffsetCommit(cc, &kafka.OffsetCommitRequest{
			GroupID:      group,
			GenerationID: -1,
			Topics:       map[string][]kafka.OffsetCommit{topic: {{Partition: 0, Offset: next}}},
		})
		cancel()
		if err == nil {
			for _, p := range res.Topics[topic] {
				if p.Error != nil {
					err = p.Error
				}
			}
		}
		if err != nil {
			log.Printf("commit offset %d: %v", next, err)
			continue
		}
		committed = next
	}
}

// apply makes one event's effects: its statement line, and for a redemption
// its voucher. It retries until done (or ctx ends): the partition waits.
func (c *consumer) apply(ctx context.Context, ev event) error {
	err := retryDB(ctx, "statement "+ev.EventID, func(cx context.Context) error {
		_, err := c.db.Exec(cx, `INSERT INTO gl_statement (event_id, customer_id, kind, points, seq) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING`,
			ev.EventID, ev.Customer, ev.Kind, ev.Points, ev.Seq)
		return err
	})
	if err != nil || ev.Kind != "redeem" {
		return err
	}
	already, err := c.voucherSent(ctx, ev.EventID)
	if err != nil || already {
		return err
	}
	var shipment string
	back := 100 * time.Millisecond
	for {
		shipment, err = c.ship(ctx, ev)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Printf("voucher %s: %v (retrying)", ev.EventID, err)
		sleep(ctx, back)
		if back < 2*time.Second {
			back *= 2
		}
	}
	if c.opts.dedupe == "process" {
		c.sent[ev.EventID] = true
	}
	return retryDB(ctx, "record voucher "+ev.EventID, func(cx context.Context) error {
		_, err := c.db.Exec(cx, `INSERT INTO gl_vouchers (redeem_id, shipment_id) VALUES ($1, $2) ON CONFLICT (redeem_id) DO NOTHING`, ev.EventID, shipment)
		return err
	})
}

func (c *consumer) voucherSent(ctx context.Context, redeemID string) (bool, error) {
	if c.opts.dedupe == "process" {
		return c.sent[redeemID], nil
	}
	var found bool
	err := retryDB(ctx, "voucher lookup "+redeemID, func(cx context.Context) error {
		var one int
		err := c.db.QueryRow(cx, `SELECT 1 FROM gl_vouchers WHERE redeem_id = $1`, redeemID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			found = false
			return nil
		}
		found = err == nil
		return err
	})
	return found, err
}

// ship asks the partner's warehouse to send the reward voucher.
func (c *consumer) ship(ctx context.Context, ev event) (string, error) {
	body, _ := json.Marshal(map[string]any{"order_id": ev.EventID, "sku": ev.Customer, "qty": ev.Points})
	cx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cx, "POST", c.partner+"/warehouse/shipments", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.opts.partnerKeys {
		req.Header.Set("Idempotency-Key", "voucher-"+ev.EventID)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	if res.StatusCode != 200 {
		return "", fmt.Errorf("warehouse answered %d: %s", res.StatusCode, bytes.TrimSpace(data))
	}
	var out struct {
		ShipmentID string `json:"shipment_id"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.ShipmentID == "" {
		return "", fmt.Errorf("warehouse answer without shipment_id: %s", data)
	}
	return out.ShipmentID, nil
}
