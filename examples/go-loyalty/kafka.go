package main

import (
	"context"
	"errors"
	"log"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
)

// ensureTopic creates the events topic (one partition) if it is missing,
// retrying until ctx ends.
func ensureTopic(ctx context.Context, client *kafka.Client) error {
	return retryKafka(ctx, "create topic", func(c context.Context) error {
		res, err := client.CreateTopics(c, &kafka.CreateTopicsRequest{
			Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}},
		})
		if err != nil {
			return err
		}
		if e := res.Errors[topic]; e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			return e
		}
		return nil
	})
}

func retryKafka(ctx context.Context, what string, f func(context.Context) error) error {
	back := 100 * time.Millisecond
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(c)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Printf("%s: %v (retrying)", what, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(back):
		}
		if back < time.Second {
			back *= 2
		}
	}
}

func kafkaClient(bootstrap string) *kafka.Client {
	return &kafka.Client{
		Addr:    kafka.TCP(bootstrap),
		Timeout: 5 * time.Second,
		Transport: &kafka.Transport{
			Dial:        (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
			IdleTimeout: 30 * time.Second,
			MetadataTTL: 5 * time.Second,
		},
	}
}
