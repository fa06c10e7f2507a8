package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

const notifyTimeout = 3 * time.Second

// notifier calls the partner's POST /notify/messages.
type notifier struct {
	base   string
	client *http.Client
}

func newNotifier(partnerURL string) *notifier {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: notifyTimeout,
	}
	return &notifier{base: strings.TrimRight(partnerURL, "/"), client: &http.Client{Transport: tr, Timeout: notifyTimeout}}
}

// announce sends one match's message. The key and the body depend on the
// match alone, so every retry, from any replica, is the same request and the
// partner records one message for it.
func (n *notifier) announce(ctx context.Context, m match) error {
	body, err := json.Marshal(map[string]any{"match_id": m.MatchID, "users": m.Users})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.base+"/notify/messages", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "gm-notify-"+m.MatchID)
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("notify %s: %w", m.MatchID, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("notify %s: HTTP %d %s", m.MatchID, resp.StatusCode, bytes.TrimSpace(answer))
	}
	var ok struct {
		MessageID string `json:"message_id"`
	}
	if err := json.Unmarshal(answer, &ok); err != nil || ok.MessageID == "" {
		return fmt.Errorf("notify %s: unexpected answer %q", m.MatchID, answer)
	}
	return nil
}
