// go-checkout: a failmodel `inventory` target (docs/contracts.md section 3) in Go.
//
//	go-checkout serve   [--variant NAME]   one replica on 127.0.0.1:$PORT
//	go-checkout shipper [--variant NAME]   the outbox relay that ships accepted orders
//
// Everything it promises is in PostgreSQL first, so SIGKILL at any instant is harmless.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
)

var variants = map[string]bool{"correct": true, "read_then_write": true}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go-checkout serve|shipper [--variant NAME]")
		os.Exit(2)
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	def := os.Getenv("FAILMODEL_VARIANT")
	if def == "" {
		def = "correct"
	}
	variant := fs.String("variant", def, "behaviour: correct or read_then_write")
	_ = fs.Parse(os.Args[2:])
	if !variants[*variant] {
		fmt.Fprintf(os.Stderr, "go-checkout: unknown variant %q (known: correct, read_then_write)\n", *variant)
		os.Exit(2)
	}
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		fmt.Fprintln(os.Stderr, "go-checkout: DATABASE_URL is not set (the design must list the postgres dependency)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	switch cmd {
	case "serve":
		port := os.Getenv("PORT")
		if port == "" {
			fmt.Fprintln(os.Stderr, "go-checkout: PORT is not set")
			os.Exit(2)
		}
		serve(ctx, dbURL, port, *variant)
	case "shipper":
		partner := os.Getenv("PARTNER_URL")
		if partner == "" {
			fmt.Fprintln(os.Stderr, "go-checkout: PARTNER_URL is not set (the design must list the partner dependency)")
			os.Exit(2)
		}
		runShipper(ctx, dbURL, partner)
	default:
		fmt.Fprintf(os.Stderr, "go-checkout: unknown command %q (serve or shipper)\n", cmd)
		os.Exit(2)
	}
}
