// Command sendhook signs webhooks and POSTs them to a bridge: one, to try it, or a
// load of unique deliveries with a latency report. It signs as AudioSpliter does,
// or as any scheme of a senders file does (-scheme, or a sender of -senders-file).
//
//	sendhook -secret S                         # the built-in sample, once
//	sendhook -secret S -file payload.json -id dlv_1
//	sendhook -secret S -n 20000 -c 64          # load: 20000 requests on 64 connections
//	sendhook -secret S -duration 5m -c 64 -acked acked.txt
//	sendhook -secret S -url https://bridge.internal:8443/webhooks -cacert ca.pem
//	sendhook -scheme standard-webhooks -secret whsec_… -url http://127.0.0.1:8080/webhooks/svix
//	sendhook -senders-file senders.yaml -sender billing -n 1000 -acked acked.txt
//	sendhook check -acked acked.txt -sink nats # read the stream; changes nothing
//	sendhook check -acked acked.txt -sink rabbitmq -queue audiospliter.events -drain
//
// The secret may come from SENDHOOK_SECRET or BRIDGE_WEBHOOK_SECRET instead of -secret
// (the first of a comma-separated list), or from the sender's secret_file with
// -senders-file. -acked writes every delivery id answered 200 (as the message id the
// bridge gives it: <sender>:<id> with -sender), one per line: the input of `sendhook
// check`, which reads the broker and reports
// deliveries lost (answered 200, not there), duplicated and unexpected. A NATS
// stream is read without changing it; a RabbitMQ or SQS queue can only be checked
// by taking its messages off, which `check` does only when given -drain.
package main

import (
	"bufio"
	"context"
	"crypto/x509"
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

	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
)

// sample is the seed payload of the contract.
const sample = `{"event":"job.completed","jobId":"job_8f3a2c1e","data":{"segments":[{"index":0,"downloadUrl":"https://cdn.audiospliter.example/job_8f3a2c1e/0.mp3","duration":12.5},{"index":1,"downloadUrl":"https://cdn.audiospliter.example/job_8f3a2c1e/1.mp3","duration":9.75}]}}`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usageHead = `Usage:
  sendhook [flags]         sign and POST the sample (or -file) once, or a load with -n/-duration
  sendhook check [flags]   compare an -acked file with what the broker holds
                           (sendhook check -h: NATS is read as it is; RabbitMQ and SQS
                           queues are emptied, only with -drain)

Flags of sendhook:
`

// run is the command; getenv reads SENDHOOK_SECRET and BRIDGE_WEBHOOK_SECRET (the
// process environment in main, a map in tests).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check" {
		return check(ctx, args[1:], getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet("sendhook", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	var (
		target   = fs.String("url", "http://127.0.0.1:8080/webhooks", "the bridge's webhook URL")
		secret   = fs.String("secret", "", "signing secret (default: $SENDHOOK_SECRET, else the first of $BRIDGE_WEBHOOK_SECRET)")
		file     = fs.String("file", "", "payload file (default: the built-in job.completed sample)")
		id       = fs.String("id", "", "delivery id of a single send (default: a new one)")
		n        = fs.Int("n", 0, "load: number of requests")
		c        = fs.Int("c", 1, "load: concurrent connections")
		duration = fs.Duration("duration", 0, "load: run for this long")
		acked    = fs.String("acked", "", "load: write every delivery id answered 200 to this file")
		caCert   = fs.String("cacert", "", "PEM file of the CA that signed an https bridge's certificate (default: the system roots)")
		sf       schemeFlags
	)
	sf.register(fs)
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	urlSet := false
	fs.Visit(func(f *flag.Flag) { urlSet = urlSet || f.Name == "url" })
	if err := sf.fromSendersFile(target, urlSet, secret); err != nil {
		fmt.Fprintf(stderr, "sendhook: %v\n", err)
		return 2
	}
	if *secret == "" {
		*secret = getenv("SENDHOOK_SECRET")
	}
	if *secret == "" {
		*secret, _, _ = strings.Cut(getenv("BRIDGE_WEBHOOK_SECRET"), ",")
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
	snd, err := sf.sender(*secret, body, *file != "")
	if err != nil {
		fmt.Fprintf(stderr, "sendhook: %v\n", err)
		return 2
	}
	t.Sender = snd
	if *caCert != "" {
		pool, err := readCAFile(*caCert)
		if err != nil {
			fmt.Fprintf(stderr, "sendhook: -cacert: %v\n", err)
			return 2
		}
		t.RootCAs = pool
	}

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
				id = snd.MessageID(id) // with a sender name, what the broker holds
				mu.Lock()
				_, _ = w.WriteString(id) // a bufio.Writer's error shows at Flush, which is checked
				_ = w.WriteByte('\n')
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
	if res.Stopped > 0 {
		// A run the server cut short is no measurement: say so, and fail.
		fmt.Fprintf(stderr, "sendhook: the run stopped early: %d of %d connections could not reconnect (%v)\n", res.Stopped, opts.Concurrency, res.StopErr)
		return 1
	}
	return 0
}

// parseFlags parses args; done means exit with code: 0 after -h (help on stdout,
// as asked for), 2 after a usage error (already reported on stderr).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, done bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--h" || a == "--help" {
			// Before Parse, which would print the help on stderr.
			fs.SetOutput(stdout)
			fs.Usage()
			return 0, true
		}
	}
	if err := fs.Parse(args); err != nil {
		return 2, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q (flags go before it; see -h)\n", fs.Name(), fs.Arg(0))
		return 2, true
	}
	return 0, false
}

// readCAFile reads a PEM bundle of CA certificates.
func readCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
