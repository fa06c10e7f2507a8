// go-matching: a target for failmodel's `matching` workload
// (docs/contracts.md section 5), on PostgreSQL and the partner's notify API.
//
//	go-matching serve [--variant NAME]
//
// Environment (docs/contracts.md section 1): PORT, DATABASE_URL, PARTNER_URL,
// INSTANCE_ID, FAILMODEL_VARIANT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

var knownVariants = []string{"correct", "variant_a", "variant_b", "variant_c", "variant_d"}

// behaviour holds the code-path switches a variant selects.
type behaviour struct {
	pairLock     bool
	upsertMatch  bool
	inlineNotify bool
	claimFirst   bool
}

func behaviourOf(variant string) (behaviour, error) {
	b := behaviour{pairLock: true}
	switch variant {
	case "correct":
	case "variant_a":
		b.pairLock = false
	case "variant_b":
		b.upsertMatch = true
	case "variant_c":
		b.inlineNotify = true
	case "variant_d":
		b.claimFirst = true
	default:
		return b, fmt.Errorf("unknown variant %q (known: %v)", variant, knownVariants)
	}
	return b, nil
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: go-matching serve [--variant NAME]\n  variants: %v (default $FAILMODEL_VARIANT, else correct)\n", knownVariants)
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		usage()
		os.Exit(2)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	defVariant := os.Getenv("FAILMODEL_VARIANT")
	if defVariant == "" {
		defVariant = "correct"
	}
	variant := fs.String("variant", defVariant, "behaviour to run")
	if err := fs.Parse(os.Args[2:]); err != nil {
		usage()
		os.Exit(2)
	}
	beh, err := behaviourOf(*variant)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-matching:", err)
		os.Exit(2)
	}
	cfg := config{
		port:       os.Getenv("PORT"),
		dbURL:      os.Getenv("DATABASE_URL"),
		partnerURL: os.Getenv("PARTNER_URL"),
		instance:   os.Getenv("INSTANCE_ID"),
	}
	var missing []string
	for name, v := range map[string]string{"PORT": cfg.port, "DATABASE_URL": cfg.dbURL, "PARTNER_URL": cfg.partnerURL} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "go-matching: missing environment: %v\n", missing)
		os.Exit(2)
	}
	log.SetPrefix(fmt.Sprintf("go-matching[%s %s] ", cfg.instance, *variant))
	if err := serve(cfg, beh); err != nil {
		log.Printf("stopped: %v", err)
		os.Exit(1)
	}
}

type config struct {
	port, dbURL, partnerURL, instance string
}

func serve(cfg config, beh behaviour) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	st, err := openStore(ctx, cfg.dbURL)
	if err != nil {
		return err
	}
	defer st.close()
	// Keep trying until the schema is there: a restart may come while
	// PostgreSQL is still unreachable. The harness bounds this by its
	// start_timeout_s; we never give up on our own.
	for attempt := 0; ; attempt++ {
		err := st.ensureSchema(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if attempt%10 == 0 {
			log.Printf("schema not ready yet: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}

	notifier := newNotifier(cfg.partnerURL)
	app := &app{store: st, notifier: notifier, beh: beh, kick: make(chan struct{}, 1)}
	go app.relay(ctx)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("POST /swipes", app.handleSwipe)
	mux.HandleFunc("GET /matches", app.handleMatches)

	ln, err := net.Listen("tcp", "127.0.0.1:"+cfg.port)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("serving on 127.0.0.1:%s", cfg.port)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
