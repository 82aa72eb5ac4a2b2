// Command sqs receives one message from the bridge's SQS queue, shows the event, the
// delivery id and the CloudEvents attributes, and deletes it inside a consumer span
// that continues the bridge's trace (the AWSTraceHeader system attribute, in X-Ray
// form: SQS has no room for traceparent). Region and credentials come from the
// standard AWS chain, with the bridge's defaults for a local endpoint
// (connect.SQS.Client).
//
//	go run ./examples/go/sqs -queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/audiospliter-events
//	AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test go run ./examples/go/sqs \
//	  -endpoint http://127.0.0.1:4566 -queue-url http://127.0.0.1:4566/000000000000/audiospliter-events
//
// Every flag also reads an environment variable (-h lists them), the same ones the
// Node example reads.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.opentelemetry.io/contrib/propagators/aws/xray"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/audiospliter/audiospliter-bridge/examples/go/internal/connect"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("sqs example: ")
	var (
		queue  connect.SQS
		common connect.Common
	)
	queue.Flags(flag.CommandLine)
	common.Flags(flag.CommandLine)
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), common.Timeout+5*time.Second)
	defer cancel()
	client, err := queue.Client(ctx)
	if err != nil {
		log.Fatal(err)
	}
	deadline := time.Now().Add(common.Timeout)
	for time.Now().Before(deadline) {
		// Each call waits up to a second for a message: an endpoint that does not
		// answer within the connect timeout beyond that cannot be reached.
		callCtx, cancelCall := context.WithTimeout(ctx, common.ConnectTimeout+time.Second)
		out, err := client.ReceiveMessage(callCtx, &sqs.ReceiveMessageInput{
			QueueUrl: &queue.QueueURL, MaxNumberOfMessages: 1, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAWSTraceHeader},
		})
		cancelCall()
		if err != nil {
			log.Fatalf("cannot receive from %s: %v", queue.QueueURL, err)
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
		defer func() { _ = tp.Shutdown(context.Background()) }() // no exporter: nothing to flush
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
		fmt.Printf("body: %s\n", aws.ToString(m.Body))
		if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &queue.QueueURL, ReceiptHandle: m.ReceiptHandle}); err != nil {
			log.Fatal(err)
		}
		fmt.Println("acknowledged")
		return
	}
	fmt.Fprintf(os.Stderr, "no message on %s within %s\n", queue.QueueURL, common.Timeout)
	os.Exit(1)
}
