// go-loyalty: a loyalty-points service (earn, redeem, freeze, reads) on
// PostgreSQL, with a transactional outbox relayed to Kafka and a consumer
// that keeps each customer's statement and sends reward vouchers to the
// partner's warehouse.
//
//	go-loyalty serve      a replica (HTTP on 127.0.0.1:$PORT)
//	go-loyalty relay      outbox -> Kafka
//	go-loyalty consumer   Kafka -> statement + vouchers
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

const topic = "loyalty-events"

// options are the behaviours a deployment can be configured with.
type options struct {
	earnFlow      string // "claim-first" or "lookup-first"
	balanceUpdate string // "guarded" or "read-check"
	dedupe        string // "table" or "process"
	partnerKeys   bool   // send Idempotency-Key on partner calls
	relayAck      string // "after-send" or "before-send"
}

func optionsFor(variant string) (options, bool) {
	o := options{earnFlow: "claim-first", balanceUpdate: "guarded", dedupe: "table", partnerKeys: true, relayAck: "after-send"}
	switch variant {
	case "correct":
	case "variant_a":
		o.dedupe = "process"
		o.partnerKeys = false
	case "variant_b":
		o.balanceUpdate = "read-check"
	case "variant_c":
		o.earnFlow = "lookup-first"
	case "variant_d":
		o.relayAck = "before-send"
	default:
		return o, false
	}
	return o, true
}

func need(name string) string {
	v := os.Getenv(name)
	if v == "" {
		fmt.Fprintf(os.Stderr, "go-loyalty: %s is not set\n", name)
		os.Exit(2)
	}
	return v
}

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	fs := flag.NewFlagSet("go-loyalty", flag.ExitOnError)
	variant := fs.String("variant", os.Getenv("FAILMODEL_VARIANT"), "behaviour to run")
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go-loyalty serve|relay|consumer [--variant NAME]")
		os.Exit(2)
	}
	cmd := os.Args[1]
	_ = fs.Parse(os.Args[2:])
	if *variant == "" {
		*variant = "correct"
	}
	opts, ok := optionsFor(*variant)
	if !ok {
		fmt.Fprintf(os.Stderr, "go-loyalty: unknown variant %q\n", *variant)
		os.Exit(2)
	}
	log.SetPrefix(fmt.Sprintf("[%s %s] ", cmd, os.Getenv("INSTANCE_ID")))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	dbURL := need("DATABASE_URL")
	switch cmd {
	case "serve":
		port := need("PORT")
		serve(ctx, dbURL, port, opts)
	case "relay":
		relay(ctx, dbURL, need("KAFKA_BOOTSTRAP_SERVERS"), opts)
	case "consumer":
		consume(ctx, dbURL, need("KAFKA_BOOTSTRAP_SERVERS"), need("PARTNER_URL"), opts)
	default:
		fmt.Fprintf(os.Stderr, "go-loyalty: unknown command %q\n", cmd)
		os.Exit(2)
	}
}
