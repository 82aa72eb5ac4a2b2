package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	neturl "net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
)

const checkUsageHead = `Usage: sendhook check -acked FILE [-sink nats|rabbitmq|sqs] [flags]

Reads every delivery id on the broker and compares them with FILE (written by
sendhook -acked). Exits 0 only when nothing answered 200 is missing.

Where to read comes from the bridge's own variables when they are set, so that
check run with the bridge's environment reads where the bridge publishes:
BRIDGE_SINK, BRIDGE_NATS_URL (or _URL_FILE, or the embedded server's
BRIDGE_NATS_EMBEDDED_LISTEN and _TOKEN), BRIDGE_NATS_STREAM, BRIDGE_NATS_CREDS_FILE,
_NKEY_FILE, _TLS_CA_FILE, _TLS_CERT_FILE, _TLS_KEY_FILE, BRIDGE_RABBITMQ_URL (or
_URL_FILE), BRIDGE_RABBITMQ_QUEUE, BRIDGE_SQS_QUEUE_URL, BRIDGE_SQS_ENDPOINT.
A flag given overrides its variable.

  nats      reads the stream message by message without changing it: no consumer
            is created, nothing is acknowledged or removed. Run it as often as you like.
  rabbitmq  WARNING: a queue can only be read by taking its messages off it.
  sqs       WARNING: receiving hides messages from other consumers and counts
            towards a redrive policy; checking means receiving and deleting them.
            Both refuse to run without -drain, which empties the queue: the
            application consuming it will never get those messages. Check a queue
            of its own (BRIDGE_RABBITMQ_QUEUE, a separate SQS queue), or a test setup.

Flags:
`

// maxListed bounds the lost and unexpected ids printed: the counts say the rest.
const maxListed = 20

// check is `sendhook check`: it reads every delivery id on a queue or stream and
// compares them with an -acked file. It exits 0 only when nothing answered 200 is
// missing, 1 when something is, 2 on a usage error. getenv reads the bridge's
// variables, the defaults of the flags.
func check(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sendhook check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), checkUsageHead)
		fs.PrintDefaults()
	}
	env := bridgeEnv(getenv)
	// URLs may carry a password: their defaults are filled in after parsing, so
	// that -h never prints them.
	var (
		acked       = fs.String("acked", "", "file of delivery ids answered 200 (from sendhook -acked)")
		sink        = fs.String("sink", env.sink, "rabbitmq, nats or sqs (BRIDGE_SINK)")
		drain       = fs.Bool("drain", false, "take every message off the RabbitMQ or SQS queue (required for those: checking them empties them; consumers will not get the messages)")
		rabbitURL   = fs.String("rabbitmq-url", "", "RabbitMQ URL (default: BRIDGE_RABBITMQ_URL or _URL_FILE, else amqp://guest:guest@localhost:5672/)")
		queue       = fs.String("queue", env.queue, "RabbitMQ queue to drain (BRIDGE_RABBITMQ_QUEUE)")
		natsURL     = fs.String("nats-url", "", "NATS URL, tls:// for TLS; a token or user:password may sit in it (default: BRIDGE_NATS_URL or _URL_FILE, else the embedded server at BRIDGE_NATS_EMBEDDED_LISTEN, 127.0.0.1:4222)")
		natsSec     natsSecurity
		stream      = fs.String("stream", env.stream, "JetStream stream to read (BRIDGE_NATS_STREAM)")
		sqsQueueURL = fs.String("sqs-queue-url", env.sqsQueueURL, "SQS queue to drain (BRIDGE_SQS_QUEUE_URL)")
		sqsEndpoint = fs.String("sqs-endpoint", env.sqsEndpoint, "local SQS-compatible server (BRIDGE_SQS_ENDPOINT); with it, as in the bridge, the region defaults to "+awssqs.DefaultLocalRegion+" and no instance metadata is asked")
		quiet       = fs.Duration("quiet", 2*time.Second, "a drained queue counts as empty after this long without a message")
		withSenders = fs.Bool("senders", env.senders, "the bridge runs with a senders file (default: BRIDGE_SENDERS_FILE is set): message ids are <sender>:<delivery id>, as sendhook -sender writes them to -acked; on SQS, read from ce-source and ce-id")
	)
	fs.StringVar(&natsSec.creds, "nats-creds", env.nats.creds, "NATS .creds file (BRIDGE_NATS_CREDS_FILE)")
	fs.StringVar(&natsSec.nkey, "nats-nkey", env.nats.nkey, "NATS NKey seed file (BRIDGE_NATS_NKEY_FILE)")
	fs.StringVar(&natsSec.ca, "nats-ca", env.nats.ca, "CA file that verifies the NATS server; turns TLS on (BRIDGE_NATS_TLS_CA_FILE)")
	fs.StringVar(&natsSec.cert, "nats-cert", env.nats.cert, "client certificate for NATS, with -nats-key (BRIDGE_NATS_TLS_CERT_FILE)")
	fs.StringVar(&natsSec.key, "nats-key", env.nats.key, "private key of -nats-cert (BRIDGE_NATS_TLS_KEY_FILE)")
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if *acked == "" {
		fmt.Fprintln(stderr, "sendhook check: -acked is required")
		return 2
	}
	switch *sink {
	case "nats":
		if *drain {
			fmt.Fprintln(stderr, "sendhook check: -drain has no effect on NATS: the stream is read without changing it")
		}
	case "rabbitmq", "sqs":
		if !*drain {
			fmt.Fprintf(stderr, "sendhook check: checking %s queue means taking every message off it, so that the application consuming it never gets them.\n"+
				"Refusing without -drain. Add -drain only on a queue of its own or a test setup (see sendhook check -h).\n", brokerName(*sink))
			return 2
		}
	default:
		fmt.Fprintf(stderr, "sendhook check: unknown -sink %q: want nats, rabbitmq or sqs\n", *sink)
		return 2
	}
	ackedIDs, err := readLines(*acked)
	if err != nil {
		fmt.Fprintf(stderr, "sendhook check: %v\n", err)
		return 2
	}
	var found []string
	switch *sink {
	case "rabbitmq":
		var url string
		if url, err = env.rabbitURL(*rabbitURL); err != nil {
			fmt.Fprintf(stderr, "sendhook check: %v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "sendhook check: -drain: taking every message off RabbitMQ queue %s; its consumers will not get them\n", *queue)
		found, err = drainRabbitMQ(url, *queue, *quiet, stderr)
	case "nats":
		var url string
		if url, err = env.natsURL(*natsURL); err != nil {
			fmt.Fprintf(stderr, "sendhook check: %v\n", err)
			return 2
		}
		found, err = readStream(ctx, url, *stream, natsSec)
	case "sqs":
		fmt.Fprintf(stderr, "sendhook check: -drain: receiving and deleting every message of SQS queue %s; its consumers will not get them\n", sinks.RedactURL(*sqsQueueURL))
		found, err = drainSQS(ctx, *sqsQueueURL, *sqsEndpoint, *quiet, *withSenders, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sendhook check: %v\n", err)
		return 1
	}
	r := loadgen.Compare(ackedIDs, found)
	fmt.Fprintf(stdout, "acked: %d  found: %d distinct  lost: %d  duplicates: %d  unexpected: %d\n",
		r.Acked, r.Found, len(r.Lost), r.Duplicates, len(r.Unexpected))
	list(stdout, "lost", r.Lost)
	// On the broker, never answered 200: answered 503 but landed (the sender's
	// retry then was a duplicate), or published by someone else.
	list(stdout, "unexpected", r.Unexpected)
	if len(r.Lost) > 0 {
		if sender := senderOfLost(r.Lost, r.Unexpected); sender != "" {
			fmt.Fprintf(stdout, "hint: the broker holds the lost ids as %s:<id>: the bridge has a senders file, so its message ids are <sender>:<delivery id>; send with -sender %s (or -senders-file) and check again\n", sender, sender)
		}
		return 1
	}
	return 0
}

// senderOfLost returns the sender whose prefix, put before every lost id, gives an
// id the broker holds: the ids of a load sent without -sender to a bridge with a
// senders file. "" if there is no such sender.
func senderOfLost(lost, unexpected []string) string {
	held := make(map[string]bool, len(unexpected))
	sender := ""
	for _, id := range unexpected {
		if s, rest, ok := strings.Cut(id, ":"); ok {
			held[id] = true
			if sender == "" && slices.Contains(lost, rest) {
				sender = s
			}
		}
	}
	if sender == "" {
		return ""
	}
	for _, id := range lost {
		if !held[sender+":"+id] {
			return ""
		}
	}
	return sender
}

// list prints at most maxListed ids, one a line, and how many more there are.
func list(w io.Writer, what string, ids []string) {
	for i, id := range ids {
		if i == maxListed {
			fmt.Fprintf(w, "… and %d more %s\n", len(ids)-maxListed, what)
			return
		}
		fmt.Fprintf(w, "%s: %s\n", what, id)
	}
}

// bridgeSettings are where the bridge's variables say it publishes.
type bridgeSettings struct {
	getenv                   func(string) string
	sink, stream, queue      string
	sqsQueueURL, sqsEndpoint string
	nats                     natsSecurity
	senders                  bool // BRIDGE_SENDERS_FILE is set
}

func bridgeEnv(getenv func(string) string) bridgeSettings {
	or := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	return bridgeSettings{
		getenv:      getenv,
		sink:        or("BRIDGE_SINK", "nats"),
		stream:      or("BRIDGE_NATS_STREAM", "AUDIOSPLITER"),
		queue:       or("BRIDGE_RABBITMQ_QUEUE", "audiospliter.events"),
		sqsQueueURL: getenv("BRIDGE_SQS_QUEUE_URL"),
		sqsEndpoint: getenv("BRIDGE_SQS_ENDPOINT"),
		senders:     getenv("BRIDGE_SENDERS_FILE") != "",
		nats: natsSecurity{
			creds: getenv("BRIDGE_NATS_CREDS_FILE"), nkey: getenv("BRIDGE_NATS_NKEY_FILE"),
			ca: getenv("BRIDGE_NATS_TLS_CA_FILE"), cert: getenv("BRIDGE_NATS_TLS_CERT_FILE"), key: getenv("BRIDGE_NATS_TLS_KEY_FILE"),
		},
	}
}

// natsURL is flag when given, else the bridge's: BRIDGE_NATS_URL, the file of
// BRIDGE_NATS_URL_FILE, or its embedded server (with its token).
func (b bridgeSettings) natsURL(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if url, err := b.urlVar("BRIDGE_NATS_URL"); url != "" || err != nil {
		return url, err
	}
	listen := b.getenv("BRIDGE_NATS_EMBEDDED_LISTEN")
	if listen == "" {
		listen = "127.0.0.1:4222"
	}
	if host, port, err := net.SplitHostPort(listen); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		listen = net.JoinHostPort("127.0.0.1", port) // listening everywhere: reach it here
	}
	if token := b.getenv("BRIDGE_NATS_EMBEDDED_TOKEN"); token != "" {
		return "nats://" + neturl.User(token).String() + "@" + listen, nil
	}
	return "nats://" + listen, nil
}

// rabbitURL is flag when given, else BRIDGE_RABBITMQ_URL or its file, else the
// bridge's default.
func (b bridgeSettings) rabbitURL(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if url, err := b.urlVar("BRIDGE_RABBITMQ_URL"); url != "" || err != nil {
		return url, err
	}
	return "amqp://guest:guest@localhost:5672/", nil
}

// urlVar reads name, else the file of name_FILE, as the bridge does.
func (b bridgeSettings) urlVar(name string) (string, error) {
	if v := b.getenv(name); v != "" {
		return v, nil
	}
	path := b.getenv(name + "_FILE")
	if path == "" {
		return "", nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(raw)), nil
}

func brokerName(sink string) string {
	if sink == "sqs" {
		return "an SQS"
	}
	return "a RabbitMQ"
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	return out, sc.Err()
}

// drainRabbitMQ takes every message off the queue (acking it) and returns the
// message ids. Messages other consumers hold unacknowledged are not seen: it says
// so when the queue has consumers.
func drainRabbitMQ(url, queue string, quiet time.Duration, stderr io.Writer) ([]string, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq %s: %w", sinks.RedactURL(url), err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	var ids []string
	last := time.Now()
	for time.Since(last) < quiet {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			return nil, err
		}
		if !ok {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		ids = append(ids, d.MessageId)
		last = time.Now()
	}
	if ch2, err := conn.Channel(); err == nil {
		if q, err := ch2.QueueDeclarePassive(queue, true, false, false, false, nil); err == nil && q.Consumers > 0 {
			fmt.Fprintf(stderr, "sendhook check: queue %s has %d consumer(s): messages they hold unacknowledged were not seen and may be reported lost\n", queue, q.Consumers)
		}
	}
	return ids, nil
}

// natsSecurity is how check authenticates to a production NATS server, with the
// same files the bridge is given, through nats.go's own options.
type natsSecurity struct{ creds, nkey, ca, cert, key string }

func (s natsSecurity) options() ([]nats.Option, error) {
	var opts []nats.Option
	if s.ca != "" {
		opts = append(opts, nats.RootCAs(s.ca))
	}
	if s.cert != "" || s.key != "" {
		opts = append(opts, nats.ClientCert(s.cert, s.key))
	}
	if s.creds != "" {
		opts = append(opts, nats.UserCredentials(s.creds))
	}
	if s.nkey != "" {
		opt, err := nats.NkeyOptionFromSeed(s.nkey)
		if err != nil {
			return nil, fmt.Errorf("-nats-nkey: %w", err)
		}
		opts = append(opts, opt)
	}
	return opts, nil
}

// readStream reads every message of the stream by sequence (a direct get where the
// stream allows it) and returns the Nats-Msg-Id of each. It creates no consumer and
// acknowledges nothing, so it works on any retention policy, work queues included,
// and leaves the stream and its consumers as they were.
func readStream(ctx context.Context, url, stream string, sec natsSecurity) ([]string, error) {
	opts, err := sec.options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append(opts, nats.Name("sendhook check"))...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", sinks.RedactURL(url), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s not found on %s (%s): give the bridge's stream with -stream, or run check with the bridge's environment (BRIDGE_NATS_STREAM, BRIDGE_NATS_URL)",
			stream, sinks.RedactURL(url), streamNames(ctx, js))
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	state := st.CachedInfo().State
	var ids []string
	for seq := state.FirstSeq; state.Msgs > 0 && seq <= state.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	return ids, nil
}

// streamNames says which streams the server has, at most maxListed.
func streamNames(ctx context.Context, js jetstream.JetStream) string {
	var names []string
	lister := js.StreamNames(ctx)
	for name := range lister.Name() {
		names = append(names, name)
	}
	switch {
	case lister.Err() != nil:
		return "its streams could not be listed: " + lister.Err().Error()
	case len(names) == 0:
		return "it has no stream"
	case len(names) > maxListed:
		return fmt.Sprintf("its streams: %s, … and %d more", strings.Join(names[:maxListed], ", "), len(names)-maxListed)
	}
	return "its streams: " + strings.Join(names, ", ")
}

// drainSQS receives and deletes every message and returns each one's message id:
// its ce-id, or with senders "<ce-source>:<ce-id>" (SQS has its own MessageId, and
// a standard queue keeps no deduplication id). AWS settings are found as the bridge
// finds them (awssqs.LoadAWSConfig).
func drainSQS(ctx context.Context, queueURL, endpoint string, quiet time.Duration, senders bool, stderr io.Writer) ([]string, error) {
	if queueURL == "" {
		return nil, errors.New("-sqs-queue-url is required")
	}
	cfg, err := awssqs.LoadAWSConfig(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	client := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	var ids []string
	last := time.Now()
	for time.Since(last) < quiet {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, MessageAttributeNames: []string{sinks.HeaderID, sinks.HeaderSource}, VisibilityTimeout: 300,
		})
		if err != nil {
			return nil, err
		}
		if len(out.Messages) == 0 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		last = time.Now()
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageAttributes[sinks.HeaderID].StringValue)
			if senders {
				id = aws.ToString(m.MessageAttributes[sinks.HeaderSource].StringValue) + ":" + id
			}
			ids = append(ids, id)
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return nil, err
			}
		}
	}
	// A message another consumer received and has not deleted yet is invisible:
	// say so rather than let it pass silently for lost.
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err == nil {
		if n, _ := strconv.Atoi(attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]); n > 0 {
			fmt.Fprintf(stderr, "sendhook check: %d message(s) on the queue are in flight (received by another consumer, not yet deleted): not seen here, and may be reported lost\n", n)
		}
	}
	return ids, nil
}
