package main

import (
	"context"
	"encoding/json"
	"log"
	"time"

	"github.com/redis/go-redis/v9"
)

// answerCache keeps the decided answer of each redemption in Redis, so that
// a resend is answered without a database transaction. It is only a cache:
// every answer in it is also in PostgreSQL, and a miss (or Redis being down)
// falls back to the database.
type answerCache struct {
	rdb *redis.Client
}

const answerTTL = time.Hour

func openCache(redisURL string) *answerCache {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		log.Fatalf("REDIS_URL: %v", err)
	}
	opt.DialTimeout = 300 * time.Millisecond
	opt.ReadTimeout = 300 * time.Millisecond
	opt.WriteTimeout = 300 * time.Millisecond
	opt.PoolTimeout = 300 * time.Millisecond
	opt.MaxRetries = -1 // no retries: a miss is cheap
	opt.PoolSize = 16
	return &answerCache{rdb: redis.NewClient(opt)}
}

func (c *answerCache) Close() { _ = c.rdb.Close() }

func answerKey(id string) string { return "promo:redemption:" + id }

func (c *answerCache) get(ctx context.Context, id string) (Answer, bool) {
	ctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	defer cancel()
	raw, err := c.rdb.Get(ctx, answerKey(id)).Bytes()
	if err != nil {
		if err != redis.Nil {
			log.Printf("cache get %s: %v", id, err)
		}
		return Answer{}, false
	}
	var a Answer
	if json.Unmarshal(raw, &a) != nil || a.RedemptionID != id {
		return Answer{}, false
	}
	return a, true
}

func (c *answerCache) put(ctx context.Context, a Answer) {
	ctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
	defer cancel()
	raw, _ := json.Marshal(a)
	if err := c.rdb.Set(ctx, answerKey(a.RedemptionID), raw, answerTTL).Err(); err != nil {
		log.Printf("cache put %s: %v", a.RedemptionID, err)
	}
}
