// Command sqs receives one message from the bridge's SQS queue, shows the event, the
// delivery id and the CloudEvents attributes, and deletes it inside a consumer span
// that continues the bridge's trace (the AWSTraceHeader system attribute, in X-Ray
// form: SQS has no room for traceparent). Region and credentials come from the
// standard AWS chain, with the bridge's defaults for a local endpoint (loadAWS).
//
//	go run ./examples/go/sqs -queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/audiospliter-events
//	AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test go run ./examples/go/sqs \
//	  -endpoint http://127.0.0.1:4566 -queue-url http://127.0.0.1:4566/000000000000/audiospliter-events
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.opentelemetry.io/contrib/propagators/aws/xray"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

func main() {
	queueURL := flag.String("queue-url", os.Getenv("QUEUE_URL"), "queue, as in BRIDGE_SQS_QUEUE_URL (default $QUEUE_URL)")
	endpoint := flag.String("endpoint", os.Getenv("SQS_ENDPOINT"), "a local SQS-compatible server, e.g. http://127.0.0.1:4566, as in BRIDGE_SQS_ENDPOINT (default $SQS_ENDPOINT)")
	timeout := flag.Duration("timeout", 10*time.Second, "how long to wait for a message")
	flag.Parse()
	if *queueURL == "" {
		log.Fatal("set -queue-url or QUEUE_URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout+5*time.Second)
	defer cancel()
	cfg, err := loadAWS(ctx, *endpoint)
	if err != nil {
		log.Fatal(err)
	}
	client := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if *endpoint != "" {
			o.BaseEndpoint = aws.String(*endpoint)
		}
	})
	deadline := time.Now().Add(*timeout)
	for time.Now().Before(deadline) {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: queueURL, MaxNumberOfMessages: 1, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAWSTraceHeader},
		})
		if err != nil {
			log.Fatal(err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		m := out.Messages[0]
		attr := func(name string) string { return aws.ToString(m.MessageAttributes[name].StringValue) }
		parent := xray.Propagator{}.Extract(ctx, propagation.MapCarrier{
			"X-Amzn-Trace-Id": m.Attributes[string(types.MessageSystemAttributeNameAWSTraceHeader)],
		})
		// Add sdktrace.WithBatcher(an OTLP exporter) to send the span to a collector.
		tp := sdktrace.NewTracerProvider()
		defer tp.Shutdown(context.Background())
		_, span := tp.Tracer("example").Start(parent, "process", trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(semconv.MessagingSystemAWSSQS, semconv.MessagingOperationTypeProcess,
				semconv.MessagingMessageID(aws.ToString(m.MessageId))))
		defer span.End()
		if p, ok := span.(sdktrace.ReadOnlySpan); ok && p.Parent().IsRemote() {
			fmt.Printf("trace id: %s (continued from the bridge)\n", span.SpanContext().TraceID())
		} else {
			fmt.Printf("trace id: %s (new: the message carried no AWSTraceHeader)\n", span.SpanContext().TraceID())
		}
		fmt.Printf("event: %s\n", attr("audiospliter-event"))
		// SQS makes its own MessageId; the delivery id is the ce-id attribute.
		fmt.Printf("delivery id: %s\n", attr("ce-id"))
		for _, name := range []string{"ce-specversion", "ce-id", "ce-type", "ce-source", "ce-time", "content-type", "audiospliter-job-id"} {
			if v := attr(name); v != "" {
				fmt.Printf("%s: %s\n", name, v)
			}
		}
		fmt.Printf("body: %d bytes\n", len(aws.ToString(m.Body)))
		if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queueURL, ReceiptHandle: m.ReceiptHandle}); err != nil {
			log.Fatal(err)
		}
		fmt.Println("acknowledged")
		return
	}
	fmt.Fprintf(os.Stderr, "no message on %s within %s\n", *queueURL, *timeout)
	os.Exit(1)
}

// loadAWS finds region and credentials as the bridge does: the SDK's default chain
// (AWS_REGION, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity,
// instance roles). With a local endpoint there is no instance metadata service to
// ask, and the region, which only the request signer needs, defaults to us-east-1.
func loadAWS(ctx context.Context, endpoint string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if endpoint != "" {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		if endpoint == "" {
			return cfg, fmt.Errorf("no AWS region: set AWS_REGION (or -endpoint for a local server)")
		}
		cfg.Region = "us-east-1"
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return cfg, fmt.Errorf("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any value for a local server) or AWS_PROFILE: %w", err)
	}
	return cfg, nil
}
