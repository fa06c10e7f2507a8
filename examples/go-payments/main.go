// Command go-payments is a failmodel target for the `payments` workload,
// written from docs/contracts.md alone: net/http for the API, pgx for
// PostgreSQL, the partner's PSP for the money.
//
//	go-payments serve       one replica: POST /payments, GET /payments/{id}, GET /health on $PORT
//	go-payments reconciler  resolves payments left pending (crash, lost PSP answer)
//
// Both read DATABASE_URL and PARTNER_URL, and the behaviour to run from
// --variant NAME (default $FAILMODEL_VARIANT, else "correct"):
//
//	correct          the design as intended (see README.md)
//	key_per_attempt  a fresh random Idempotency-Key on every PSP call, so a
//	                 retried charge (by the handler, a client retry or the
//	                 reconciler) is a second charge
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

// Variants is every behaviour this binary can run; design.toml lists the same.
var Variants = []string{"correct", "key_per_attempt"}

type config struct {
	command     string
	variant     string
	port        string
	databaseURL string
	partnerURL  string
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: go-payments serve|reconciler [--variant NAME]\n"+
		"  NAME: one of %v (default: $FAILMODEL_VARIANT, else correct)\n", Variants)
}

func loadConfig(args []string) (config, error) {
	if len(args) < 1 || (args[0] != "serve" && args[0] != "reconciler") {
		return config{}, errors.New("the first argument must be 'serve' or 'reconciler'")
	}
	cfg := config{command: args[0]}
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	defaultVariant := os.Getenv("FAILMODEL_VARIANT")
	if defaultVariant == "" {
		defaultVariant = "correct"
	}
	flags.StringVar(&cfg.variant, "variant", defaultVariant, "behaviour to run")
	if err := flags.Parse(args[1:]); err != nil {
		return config{}, err
	}
	known := false
	for _, v := range Variants {
		known = known || v == cfg.variant
	}
	if !known {
		return config{}, fmt.Errorf("unknown variant %q; variants: %v", cfg.variant, Variants)
	}
	cfg.databaseURL = os.Getenv("DATABASE_URL")
	cfg.partnerURL = os.Getenv("PARTNER_URL")
	cfg.port = os.Getenv("PORT")
	missing := []string{}
	if cfg.databaseURL == "" {
		missing = append(missing, "DATABASE_URL")
	}
	if cfg.partnerURL == "" {
		missing = append(missing, "PARTNER_URL")
	}
	if cfg.command == "serve" && cfg.port == "" {
		missing = append(missing, "PORT")
	}
	if len(missing) > 0 {
		return config{}, fmt.Errorf("missing environment variables %v (the harness sets them; "+
			"the design must list postgres and partner in target.dependencies)", missing)
	}
	return cfg, nil
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	cfg, err := loadConfig(os.Args[1:])
	if err != nil {
		log.Print(err)
		usage()
		os.Exit(2)
	}
	log.SetPrefix(fmt.Sprintf("[%s %s] ", cfg.command, cfg.variant))

	// SIGTERM (the harness stopping us) ends the process cleanly; SIGKILL
	// needs no handling: everything promised is in PostgreSQL first.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	store, err := openStore(ctx, cfg.databaseURL)
	if err != nil {
		log.Fatalf("database: %v", err)
	}
	defer store.Close()
	app := &App{store: store, psp: newPSP(cfg.partnerURL, cfg.variant), variant: cfg.variant}

	if cfg.command == "reconciler" {
		app.Reconcile(ctx)
		return
	}
	serve(ctx, app, cfg.port)
}

func serve(ctx context.Context, app *App, port string) {
	server := &http.Server{
		Addr:              net.JoinHostPort("127.0.0.1", port),
		Handler:           app.Routes(),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	listener, err := net.Listen("tcp", server.Addr)
	if err != nil {
		log.Fatalf("listen on %s: %v", server.Addr, err)
	}
	log.Printf("serving on %s", server.Addr)
	done := make(chan error, 1)
	go func() { done <- server.Serve(listener) }()
	select {
	case err := <-done:
		log.Fatalf("server: %v", err)
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown)
	}
}
