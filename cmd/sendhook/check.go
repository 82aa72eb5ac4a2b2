package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/bridge/loadgen"
)

// check is `sendhook check`: it reads every delivery id on a queue or stream and
// compares them with an -acked file. It exits 0 only when nothing answered 200 is
// missing. RabbitMQ and SQS queues are drained (messages are taken off); a NATS
// stream is only read.
func check(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sendhook check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		acked       = fs.String("acked", "", "file of delivery ids answered 200 (from sendhook -acked)")
		sink        = fs.String("sink", "nats", "rabbitmq, nats or sqs")
		rabbitURL   = fs.String("rabbitmq-url", "amqp://guest:guest@localhost:5672/", "RabbitMQ URL")
		queue       = fs.String("queue", "audiospliter.events", "RabbitMQ queue to drain")
		natsURL     = fs.String("nats-url", "nats://127.0.0.1:4222", "NATS URL")
		stream      = fs.String("stream", "AUDIOSPLITER", "JetStream stream to read")
		sqsQueueURL = fs.String("sqs-queue-url", "", "SQS queue to drain")
		sqsEndpoint = fs.String("sqs-endpoint", "", "local SQS-compatible server")
		quiet       = fs.Duration("quiet", 2*time.Second, "a queue counts as drained after this long without a message")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *acked == "" {
		fmt.Fprintln(stderr, "sendhook check: -acked is required")
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
		found, err = drainRabbitMQ(*rabbitURL, *queue, *quiet)
	case "nats":
		found, err = readStream(ctx, *natsURL, *stream)
	case "sqs":
		found, err = drainSQS(ctx, *sqsQueueURL, *sqsEndpoint, *quiet)
	default:
		fmt.Fprintf(stderr, "sendhook check: unknown -sink %q\n", *sink)
		return 2
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
// message ids.
func drainRabbitMQ(url, queue string, quiet time.Duration) ([]string, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, err
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
	return ids, nil
}

// readStream reads every message of the stream by sequence and returns the
// Nats-Msg-Id of each.
func readStream(ctx context.Context, url, stream string) ([]string, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
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

// drainSQS receives and deletes every message and returns each one's ce-id.
func drainSQS(ctx context.Context, queueURL, endpoint string, quiet time.Duration) ([]string, error) {
	if queueURL == "" {
		return nil, errors.New("-sqs-queue-url is required")
	}
	cfg, err := config.LoadDefaultConfig(ctx)
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
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"ce-id"}, VisibilityTimeout: 300,
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
			ids = append(ids, aws.ToString(m.MessageAttributes["ce-id"].StringValue))
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return nil, err
			}
		}
	}
	return ids, nil
}
