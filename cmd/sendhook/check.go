package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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

// check is `sendhook check`: it reads every delivery id on a queue or stream and
// compares them with an -acked file. It exits 0 only when nothing answered 200 is
// missing, 1 when something is, 2 on a usage error.
func check(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sendhook check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), checkUsageHead)
		fs.PrintDefaults()
	}
	var (
		acked       = fs.String("acked", "", "file of delivery ids answered 200 (from sendhook -acked)")
		sink        = fs.String("sink", "nats", "rabbitmq, nats or sqs")
		drain       = fs.Bool("drain", false, "take every message off the RabbitMQ or SQS queue (required for those: checking them empties them; consumers will not get the messages)")
		rabbitURL   = fs.String("rabbitmq-url", "amqp://guest:guest@localhost:5672/", "RabbitMQ URL")
		queue       = fs.String("queue", "audiospliter.events", "RabbitMQ queue to drain")
		natsURL     = fs.String("nats-url", "nats://127.0.0.1:4222", "NATS URL (tls:// for TLS; a token or user:password may sit in it)")
		natsSec     natsSecurity
		stream      = fs.String("stream", "AUDIOSPLITER", "JetStream stream to read")
		sqsQueueURL = fs.String("sqs-queue-url", "", "SQS queue to drain")
		sqsEndpoint = fs.String("sqs-endpoint", "", "local SQS-compatible server; with it, as in the bridge, the region defaults to "+awssqs.DefaultLocalRegion+" and no instance metadata is asked")
		quiet       = fs.Duration("quiet", 2*time.Second, "a drained queue counts as empty after this long without a message")
	)
	fs.StringVar(&natsSec.creds, "nats-creds", "", "NATS .creds file (as BRIDGE_NATS_CREDS_FILE)")
	fs.StringVar(&natsSec.nkey, "nats-nkey", "", "NATS NKey seed file (as BRIDGE_NATS_NKEY_FILE)")
	fs.StringVar(&natsSec.ca, "nats-ca", "", "CA file that verifies the NATS server; turns TLS on (as BRIDGE_NATS_TLS_CA_FILE)")
	fs.StringVar(&natsSec.cert, "nats-cert", "", "client certificate for NATS, with -nats-key")
	fs.StringVar(&natsSec.key, "nats-key", "", "private key of -nats-cert")
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
		fmt.Fprintf(stderr, "sendhook check: -drain: taking every message off RabbitMQ queue %s; its consumers will not get them\n", *queue)
		found, err = drainRabbitMQ(*rabbitURL, *queue, *quiet, stderr)
	case "nats":
		found, err = readStream(ctx, *natsURL, *stream, natsSec)
	case "sqs":
		fmt.Fprintf(stderr, "sendhook check: -drain: receiving and deleting every message of SQS queue %s; its consumers will not get them\n", sinks.RedactURL(*sqsQueueURL))
		found, err = drainSQS(ctx, *sqsQueueURL, *sqsEndpoint, *quiet, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sendhook check: %v\n", err)
		return 1
	}
	r := loadgen.Compare(ackedIDs, found)
	fmt.Fprintf(stdout, "acked: %d  found: %d distinct  lost: %d  duplicates: %d  unexpected: %d\n",
		r.Acked, r.Found, len(r.Lost), r.Duplicates, len(r.Unexpected))
	for i, id := range r.Lost {
		if i == 20 {
			fmt.Fprintf(stdout, "… and %d more lost\n", len(r.Lost)-20)
			break
		}
		fmt.Fprintf(stdout, "lost: %s\n", id)
	}
	if len(r.Lost) > 0 {
		return 1
	}
	return 0
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

// drainSQS receives and deletes every message and returns each one's ce-id. AWS
// settings are found as the bridge finds them (awssqs.LoadAWSConfig).
func drainSQS(ctx context.Context, queueURL, endpoint string, quiet time.Duration, stderr io.Writer) ([]string, error) {
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
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, MessageAttributeNames: []string{sinks.HeaderID}, VisibilityTimeout: 300,
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
			ids = append(ids, aws.ToString(m.MessageAttributes[sinks.HeaderID].StringValue))
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
