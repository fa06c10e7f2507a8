package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"regexp"
	"time"
)

const (
	requestBudget = 6 * time.Second // one swipe or read, store calls included
	relayBatch    = 100
	relayIdle     = 250 * time.Millisecond
	relayBackoff  = 500 * time.Millisecond
)

var idRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

type app struct {
	store    *store
	notifier *notifier
	beh      behaviour
	kick     chan struct{}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *app) handleSwipe(w http.ResponseWriter, r *http.Request) {
	var sw swipe
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unreadable body"})
		return
	}
	if err := json.Unmarshal(body, &sw); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body is not a swipe: " + err.Error()})
		return
	}
	if !idRe.MatchString(sw.SwipeID) || !idRe.MatchString(sw.Swiper) || !idRe.MatchString(sw.Swipee) ||
		(sw.Direction != "right" && sw.Direction != "left") || sw.Swiper == sw.Swipee {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "need swipe_id, swiper, swipee (distinct ids) and direction right or left"})
		return
	}
	// The work outlives a client that gives up: it commits or rolls back on
	// its own budget, never on the client's connection.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), requestBudget)
	defer cancel()
	res, err := a.store.recordSwipe(ctx, sw, a.beh, a.notifier.announce)
	if errors.Is(err, errConflict) {
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error(), "swipe_id": sw.SwipeID})
		return
	}
	if err != nil {
		// Not committed, or committed without our knowing: indeterminate.
		log.Printf("swipe %s: %v", sw.SwipeID, err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "store unavailable", "swipe_id": sw.SwipeID})
		return
	}
	if res.created != nil {
		a.wakeRelay()
	}
	var matchID any
	if res.matched {
		matchID = res.matchID
	}
	writeJSON(w, http.StatusOK, map[string]any{"swipe_id": sw.SwipeID, "matched": res.matched, "match_id": matchID})
}

func (a *app) handleMatches(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if !idRe.MatchString(user) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "need ?user=<id>"})
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), requestBudget)
	defer cancel()
	ms, err := a.store.matchesOf(ctx, user)
	if err != nil {
		log.Printf("matches of %s: %v", user, err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "store unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"matches": ms})
}

func (a *app) wakeRelay() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// relay announces every match of the outbox with the partner, until each
// delivery is recorded. Every replica runs one; two replicas announcing one
// match send the same Idempotency-Key and body, so the partner makes one
// message of them.
func (a *app) relay(ctx context.Context) {
	wait := relayIdle
	failures := 0
	for {
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-a.kick:
			timer.Stop()
		case <-timer.C:
		}
		err := a.relayOnce(ctx)
		if err != nil {
			failures++
			if failures == 1 || failures%20 == 0 {
				log.Printf("relay: %v (failure %d in a row)", err, failures)
			}
			wait = relayBackoff
		} else {
			failures = 0
			wait = relayIdle
		}
	}
}

func (a *app) relayOnce(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	pending, err := a.store.unsent(lctx, relayBatch)
	cancel()
	if err != nil {
		return err
	}
	var firstErr error
	for _, m := range pending {
		if err := a.deliver(ctx, m); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func (a *app) deliver(ctx context.Context, m match) error {
	if a.beh.claimFirst {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		mine, err := a.store.markSent(cctx, m.MatchID, true)
		cancel()
		if err != nil || !mine {
			return err
		}
		if err := a.notifier.announce(ctx, m); err != nil {
			uctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			if uerr := a.store.markUnsent(uctx, m.MatchID); uerr != nil {
				log.Printf("relay: %s: %v", m.MatchID, uerr)
			}
			return err
		}
		return nil
	}
	if err := a.notifier.announce(ctx, m); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := a.store.markSent(cctx, m.MatchID, false)
	return err
}
