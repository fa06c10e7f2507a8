// go-jobs: a job queue with leased claims on PostgreSQL.
//
//	go-jobs serve   one HTTP replica on 127.0.0.1:$PORT
//
// Environment: PORT, DATABASE_URL, FAILMODEL_VARIANT (or --variant).
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

	"github.com/jackc/pgx/v5/pgxpool"
)

var variants = map[string]bool{
	"correct":   true,
	"variant_a": true,
	"variant_b": true,
	"variant_c": true,
	"variant_d": true,
}

func mustEnv(name string) string {
	v := os.Getenv(name)
	if v == "" {
		fmt.Fprintf(os.Stderr, "go-jobs: %s is not set\n", name)
		os.Exit(2)
	}
	return v
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	variant := flag.String("variant", os.Getenv("FAILMODEL_VARIANT"), "behaviour to run")
	flag.Parse()
	if *variant == "" {
		*variant = "correct"
	}
	if !variants[*variant] {
		fmt.Fprintf(os.Stderr, "go-jobs: unknown variant %q\n", *variant)
		os.Exit(2)
	}
	if flag.NArg() != 1 || flag.Arg(0) != "serve" {
		fmt.Fprintln(os.Stderr, "usage: go-jobs [--variant NAME] serve")
		os.Exit(2)
	}
	port := mustEnv("PORT")
	dbURL := mustEnv("DATABASE_URL")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		log.Fatalf("go-jobs: bad DATABASE_URL: %v", err)
	}
	cfg.MaxConns = 16
	cfg.MaxConnIdleTime = 30 * time.Second
	cfg.HealthCheckPeriod = 2 * time.Second
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatalf("go-jobs: pool: %v", err)
	}
	defer pool.Close()

	s := &server{pool: pool, variant: *variant}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		log.Fatalf("go-jobs: listen: %v", err)
	}
	go s.prepareSchema(ctx)

	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("go-jobs %s serving on 127.0.0.1:%s", *variant, port)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("go-jobs: serve: %v", err)
	}
}
