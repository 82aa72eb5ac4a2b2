// Command nats reads one message from the bridge's JetStream stream through a
// durable consumer, shows the event, the delivery id, the CloudEvents attributes and
// the body, and acks it inside a consumer span that continues the bridge's trace
// (the traceparent header, present while the bridge traces).
//
//	go run ./examples/go/nats -url nats://127.0.0.1:4222 -stream AUDIOSPLITER
//	go run ./examples/go/nats -url tls://nats.internal:4222 -ca ca.pem \
//	  -cert consumer.pem -key consumer-key.pem -creds consumer.creds
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

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/audiospliter/audiospliter-bridge/examples/go/internal/connect"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("nats example: ")
	var (
		conn                     connect.NATS
		common                   connect.Common
		stream, subject, durable string
	)
	conn.Flags(flag.CommandLine)
	common.Flags(flag.CommandLine)
	connect.String(flag.CommandLine, &stream, "stream", "NATS_STREAM", "AUDIOSPLITER", "the stream, as BRIDGE_NATS_STREAM")
	connect.String(flag.CommandLine, &subject, "subject", "NATS_SUBJECT", "audiospliter.>", "subjects to read: all events, or one such as audiospliter.job.completed")
	connect.String(flag.CommandLine, &durable, "consumer", "NATS_CONSUMER", "example-go", "durable consumer name (created if missing)")
	flag.Parse()

	nc, err := conn.Connect("audiospliter-example-go", common)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), common.Timeout+5*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: durable, FilterSubject: subject, AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		log.Fatalf("consumer %s on stream %s: %v", durable, stream, err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(common.Timeout))
	if err != nil {
		fmt.Fprintf(os.Stderr, "no message on %s within %s: %v\n", stream, common.Timeout, err)
		os.Exit(1)
	}
	h := msg.Headers()
	// NATS header names are case-sensitive, so read the two W3C headers by name.
	parent := propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{
		"traceparent": h.Get("traceparent"), "tracestate": h.Get("tracestate"),
	})
	// Add sdktrace.WithBatcher(an OTLP exporter) to send the span to a collector.
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }() // no exporter: nothing to flush
	_, span := tp.Tracer("example").Start(parent, "process "+msg.Subject(), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(semconv.MessagingSystemKey.String("nats"), semconv.MessagingOperationTypeProcess,
			semconv.MessagingMessageID(h.Get("Nats-Msg-Id"))))
	defer span.End()
	printTrace(span)
	fmt.Printf("event: %s\n", h.Get("audiospliter-event"))
	// ce-id is the delivery id as the sender sent it. Nats-Msg-Id is the message
	// id, the key to skip a repeat on: the delivery id, or <sender>:<delivery id>
	// on a bridge with several senders. JetStream itself dropped any copy
	// published again within its duplicate window.
	fmt.Printf("delivery id: %s\n", h.Get("ce-id"))
	fmt.Printf("message id: %s\n", h.Get("Nats-Msg-Id"))
	for _, name := range []string{"ce-specversion", "ce-id", "ce-type", "ce-source", "ce-time", "content-type", "audiospliter-job-id"} {
		if v := h.Get(name); v != "" {
			fmt.Printf("%s: %s\n", name, v)
		}
	}
	fmt.Printf("subject: %s\n", msg.Subject())
	fmt.Printf("body: %s\n", msg.Data())
	if err := msg.DoubleAck(ctx); err != nil {
		log.Fatalf("acknowledge: %v", err)
	}
	fmt.Println("acknowledged")
}

// printTrace shows the trace the consumer span belongs to: the bridge's when the
// message carried a traceparent.
func printTrace(span trace.Span) {
	if p, ok := span.(sdktrace.ReadOnlySpan); ok && p.Parent().IsRemote() {
		fmt.Printf("trace id: %s (continued from the bridge)\n", span.SpanContext().TraceID())
		return
	}
	fmt.Printf("trace id: %s (new: the message carried no traceparent)\n", span.SpanContext().TraceID())
}
