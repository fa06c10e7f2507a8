// go-kv: a linearizable key-value store for failmodel's `kv` workload
// (docs/contracts.md, section 8), every key a compare-and-set register kept in
// one PostgreSQL row. Written from the documentation alone.
//
//	go-kv serve [--variant NAME]   one replica on 127.0.0.1:$PORT
//
// Environment (docs/contracts.md section 1): PORT, DATABASE_URL, and
// FAILMODEL_VARIANT (the default of --variant).
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

var variants = map[string]string{
	"correct":     "every operation is one statement on the PostgreSQL row of its key",
	"stale_cache": "each replica caches the values it read or wrote and answers reads from that cache",
}

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "go-kv: %s\nusage: go-kv serve [--variant NAME]\n", msg)
	os.Exit(2)
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix(fmt.Sprintf("go-kv[%s] ", os.Getenv("INSTANCE_ID")))
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		usage("expected the command 'serve'")
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	variant := fs.String("variant", os.Getenv("FAILMODEL_VARIANT"), "behaviour to run")
	if err := fs.Parse(os.Args[2:]); err != nil {
		usage(err.Error())
	}
	if *variant == "" {
		*variant = "correct"
	}
	if _, ok := variants[*variant]; !ok {
		usage(fmt.Sprintf("unknown variant %q (known: correct, stale_cache)", *variant))
	}
	port := os.Getenv("PORT")
	dbURL := os.Getenv("DATABASE_URL")
	if port == "" || dbURL == "" {
		usage("PORT and DATABASE_URL must be set (the design lists the postgres dependency)")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// Start-up retries: after a crash the store may still be unreachable
	// (a crash healed together with a partition). Listen only once ready.
	var st *store
	for {
		var err error
		st, err = openStore(ctx, dbURL)
		if err == nil {
			break
		}
		log.Printf("store not ready: %v", err)
		select {
		case <-ctx.Done():
			os.Exit(0)
		case <-time.After(300 * time.Millisecond):
		}
	}
	defer st.close()

	srv := &http.Server{
		Handler:           newServer(st, *variant).routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		log.Printf("listen: %v", err)
		os.Exit(1)
	}
	log.Printf("serving on %s, variant %s (%s)", ln.Addr(), *variant, variants[*variant])
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("serve: %v", err)
		os.Exit(1)
	}
}
