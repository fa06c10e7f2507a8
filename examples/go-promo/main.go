// go-promo: promo-code redemption with a global and a per-user limit.
//
// Commands:
//
//	go-promo serve   one HTTP replica on 127.0.0.1:$PORT
//	go-promo relay   ships the gifts of accepted redemptions (outbox -> warehouse)
//
// Environment: PORT (serve), DATABASE_URL, REDIS_URL, PARTNER_URL (relay),
// FAILMODEL_VARIANT (or --variant).
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

var variants = map[string]bool{
	"correct":   true,
	"variant_a": true,
	"variant_b": true,
	"variant_c": true,
	"variant_d": true,
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: go-promo [--variant NAME] serve|relay")
	os.Exit(2)
}

func mustEnv(name string) string {
	v := os.Getenv(name)
	if v == "" {
		fmt.Fprintf(os.Stderr, "go-promo: %s is not set\n", name)
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
		fmt.Fprintf(os.Stderr, "go-promo: unknown variant %q\n", *variant)
		os.Exit(2)
	}
	if flag.NArg() != 1 {
		usage()
	}
	cmd := flag.Arg(0)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	dbURL := mustEnv("DATABASE_URL")
	switch cmd {
	case "serve":
		port := mustEnv("PORT")
		redisURL := mustEnv("REDIS_URL")
		serve(ctx, *variant, port, dbURL, redisURL)
	case "relay":
		partnerURL := mustEnv("PARTNER_URL")
		relay(ctx, *variant, dbURL, partnerURL)
	default:
		usage()
	}
}

func serve(ctx context.Context, variant, port, dbURL, redisURL string) {
	store := openStore(ctx, dbURL)
	if store == nil {
		return // stopped before the database came up
	}
	defer store.Close()
	cache := openCache(redisURL)
	defer cache.Close()

	srv := &Server{variant: variant, store: store, cache: cache, meta: newMetaCache(30 * time.Second)}
	httpSrv := &http.Server{
		Handler:           srv.routes(),
		ReadHeaderTimeout: 5 * time.Second,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		// The port is ours alone; if it is still held (a restart racing the
		// old socket), keep trying rather than exit.
		for err != nil {
			log.Printf("listen: %v (retrying)", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			ln, err = net.Listen("tcp", "127.0.0.1:"+port)
		}
	}
	log.Printf("go-promo serve (%s) on 127.0.0.1:%s", variant, port)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(sctx)
	}()
	if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("serve: %v", err)
	}
}
