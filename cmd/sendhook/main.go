// Command sendhook signs AudioSpliter webhooks and POSTs them to a bridge: one, to
// try it, or a load of unique deliveries with a latency report.
//
//	sendhook -secret S                         # the built-in sample, once
//	sendhook -secret S -file payload.json -id dlv_1
//	sendhook -secret S -n 20000 -c 64          # load: 20000 requests on 64 connections
//	sendhook -secret S -duration 5m -c 64 -acked acked.txt
//	sendhook check -acked acked.txt -sink rabbitmq -queue audiospliter.events
//
// The secret may come from SENDHOOK_SECRET or BRIDGE_WEBHOOK_SECRET instead of -secret
// (the first of a comma-separated list). -acked writes every delivery id answered 200,
// one per line: the input of `sendhook check`, which reads the broker and reports
// deliveries lost (answered 200, not there), duplicated and unexpected.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge/loadgen"
)

// sample is the seed payload of the contract.
const sample = `{"event":"job.completed","jobId":"job_8f3a2c1e","data":{"segments":[{"index":0,"downloadUrl":"https://cdn.audiospliter.example/job_8f3a2c1e/0.mp3","duration":12.5},{"index":1,"downloadUrl":"https://cdn.audiospliter.example/job_8f3a2c1e/1.mp3","duration":9.75}]}}`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check" {
		return check(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("sendhook", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		target   = fs.String("url", "http://127.0.0.1:8080/webhooks", "the bridge's webhook URL")
		secret   = fs.String("secret", "", "signing secret (default: $SENDHOOK_SECRET, else the first of $BRIDGE_WEBHOOK_SECRET)")
		file     = fs.String("file", "", "payload file (default: the built-in job.completed sample)")
		id       = fs.String("id", "", "delivery id of a single send (default: a new one)")
		n        = fs.Int("n", 0, "load: number of requests")
		c        = fs.Int("c", 1, "load: concurrent connections")
		duration = fs.Duration("duration", 0, "load: run for this long")
		acked    = fs.String("acked", "", "load: write every delivery id answered 200 to this file")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *secret == "" {
		*secret = os.Getenv("SENDHOOK_SECRET")
	}
	if *secret == "" {
		*secret, _, _ = strings.Cut(os.Getenv("BRIDGE_WEBHOOK_SECRET"), ",")
		*secret = strings.TrimSpace(*secret)
	}
	if *secret == "" {
		fmt.Fprintln(stderr, "sendhook: no secret: use -secret, SENDHOOK_SECRET or BRIDGE_WEBHOOK_SECRET")
		return 2
	}
	body := []byte(sample)
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			fmt.Fprintf(stderr, "sendhook: %v\n", err)
			return 2
		}
		body = b
	}
	t := loadgen.Target{URL: *target, Secret: *secret, Body: body}

	if *n == 0 && *duration == 0 {
		deliveryID := *id
		if deliveryID == "" {
			deliveryID = fmt.Sprintf("sendhook-%d", time.Now().UnixNano())
		}
		reply, err := loadgen.Send(ctx, t, deliveryID)
		if err != nil {
			fmt.Fprintf(stderr, "sendhook: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%d %s\n", reply.Status, strings.TrimSpace(string(reply.Body)))
		if reply.Status != 200 {
			return 1
		}
		return 0
	}

	opts := loadgen.Options{Concurrency: *c, Requests: *n, Duration: *duration}
	var flushAcked func() error
	if *acked != "" {
		f, err := os.Create(*acked)
		if err != nil {
			fmt.Fprintf(stderr, "sendhook: %v\n", err)
			return 2
		}
		defer f.Close()
		w := bufio.NewWriter(f)
		var mu sync.Mutex
		opts.OnReply = func(id string, status int, _ time.Time) {
			if status == 200 {
				mu.Lock()
				w.WriteString(id)
				w.WriteByte('\n')
				mu.Unlock()
			}
		}
		flushAcked = func() error { return errors.Join(w.Flush(), f.Sync()) }
	}
	res, err := loadgen.Run(ctx, t, opts)
	if flushAcked != nil {
		if ferr := flushAcked(); ferr != nil {
			fmt.Fprintf(stderr, "sendhook: writing %s: %v\n", *acked, ferr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "sendhook: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, res.String())
	return 0
}
