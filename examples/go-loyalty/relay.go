package main

import (
	"context"
	"log"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
)

type outboxRow struct {
	id       int64
	eventID  string
	customer string
	payload  string
}

// relay publishes outbox rows to Kafka in id order, and marks them published.
func relay(ctx context.Context, dbURL, bootstrap string, opts options) {
	pool, err := openPool(ctx, dbURL, 4)
	if err != nil {
		return
	}
	defer pool.Close()
	client := kafkaClient(bootstrap)
	if ensureTopic(ctx, client) != nil {
		return
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(bootstrap),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    500,
		BatchTimeout: 10 * time.Millisecond,
		WriteTimeout: 5 * time.Second,
		ReadTimeout:  5 * time.Second,
		MaxAttempts:  3,
		Transport:    client.Transport,
	}
	defer w.Close()
	log.Printf("relaying outbox to %s", topic)

	for ctx.Err() == nil {
		n, err := relayOnce(ctx, pool, w, opts)
		if err != nil {
			log.Printf("relay: %v", err)
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		if n == 0 {
			sleep(ctx, 50*time.Millisecond)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func scanOutbox(rows pgx.Rows) ([]outboxRow, error) {
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.id, &r.eventID, &r.customer, &r.payload); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func messages(batch []outboxRow) []kafka.Message {
	msgs := make([]kafka.Message, len(batch))
	for i, r := range batch {
		msgs[i] = kafka.Message{Key: []byte(r.customer), Value: []byte(r.payload)}
	}
	return msgs
}

func ids(batch []outboxRow) []int64 {
	out := make([]int64, len(batch))
	for i, r := range batch {
		out[i] = r.id
	}
	return out
}

const pendingQuery = `SELECT id, event_id, customer_id, payload FROM gl_outbox WHERE NOT published ORDER BY id LIMIT 200`

func relayOnce(ctx context.Context, pool *pgxpool.Pool, w *kafka.Writer, opts options) (int, error) {
	c, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	if opts.relayAck == "after-send" {
		rows, err := pool.Query(c, pendingQuery)
		if err != nil {
			return 0, err
		}
		batch, err := scanOutbox(rows)
		if err != nil || len(batch) == 0 {
			return 0, err
		}
		pc, pcancel := context.WithTimeout(ctx, 6*time.Second)
		err = w.WriteMessages(pc, messages(batch)...)
		pcancel()
		if err != nil {
			return 0, err
		}
		// at least once: a crash here publishes the batch again, and the
		// consumer keys everything by event_id
		err = retryDB(ctx, "mark published", func(c context.Context) error {
			_, err := pool.Exec(c, `UPDATE gl_outbox SET published = true WHERE id = ANY($1)`, ids(batch))
			return err
		})
		return len(batch), err
	}

	var batch []outboxRow
	err := pgx.BeginFunc(c, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(c, pendingQuery+` FOR UPDATE SKIP LOCKED`)
		if err != nil {
			return err
		}
		batch, err = scanOutbox(rows)
		if err != nil || len(batch) == 0 {
			return err
		}
		_, err = tx.Exec(c, `UPDATE gl_outbox SET published = true WHERE id = ANY($1)`, ids(batch))
		return err
	})
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	msgs := messages(batch)
	return len(batch), retryKafka(ctx, "publish", func(c context.Context) error {
		return w.WriteMessages(c, msgs...)
	})
}
