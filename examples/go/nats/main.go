// Command nats reads one message from the bridge's JetStream stream through a
// durable consumer, shows the event, the delivery id and the CloudEvents
// attributes, and acks it inside a consumer span that continues the bridge's trace
// (the traceparent header, present while the bridge traces).
//
//	go run ./examples/go/nats -url nats://127.0.0.1:4222 -stream AUDIOSPLITER
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

func main() {
	url := flag.String("url", "nats://127.0.0.1:4222", "NATS URL (the bridge's embedded server by default)")
	stream := flag.String("stream", "AUDIOSPLITER", "stream (BRIDGE_NATS_STREAM)")
	subject := flag.String("subject", "audiospliter.>", "subjects to read (BRIDGE_NATS_SUBJECT_PREFIX + .>, or one event)")
	durable := flag.String("consumer", "example-go", "durable consumer name")
	timeout := flag.Duration("timeout", 10*time.Second, "how long to wait for a message")
	caFile := flag.String("ca", "", "PEM CA file that verifies a TLS server (tls:// URLs)")
	certFile := flag.String("cert", "", "client certificate (PEM), with -key")
	keyFile := flag.String("key", "", "client certificate's key (PEM)")
	creds := flag.String("creds", "", ".creds file of the consumer's NATS user")
	flag.Parse()

	var opts []nats.Option
	if *caFile != "" {
		opts = append(opts, nats.RootCAs(*caFile))
	}
	if *certFile != "" || *keyFile != "" {
		opts = append(opts, nats.ClientCert(*certFile, *keyFile))
	}
	if *creds != "" {
		opts = append(opts, nats.UserCredentials(*creds))
	}

	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout+5*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, *stream, jetstream.ConsumerConfig{
		Durable: *durable, FilterSubject: *subject, AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		log.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(*timeout))
	if err != nil {
		fmt.Fprintf(os.Stderr, "no message on %s within %s: %v\n", *stream, *timeout, err)
		os.Exit(1)
	}
	h := msg.Headers()
	// NATS header names are case-sensitive, so read the two W3C headers by name.
	parent := propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{
		"traceparent": h.Get("traceparent"), "tracestate": h.Get("tracestate"),
	})
	// Add sdktrace.WithBatcher(an OTLP exporter) to send the span to a collector.
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	_, span := tp.Tracer("example").Start(parent, "process "+msg.Subject(), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(semconv.MessagingSystemKey.String("nats"), semconv.MessagingOperationTypeProcess,
			semconv.MessagingMessageID(h.Get("Nats-Msg-Id"))))
	defer span.End()
	printTrace(span)
	fmt.Printf("event: %s\n", h.Get("audiospliter-event"))
	// Nats-Msg-Id and ce-id carry the delivery id; JetStream itself dropped any
	// copy published again within its duplicate window.
	fmt.Printf("delivery id: %s\n", h.Get("Nats-Msg-Id"))
	for _, name := range []string{"ce-specversion", "ce-id", "ce-type", "ce-source", "ce-time", "content-type", "audiospliter-job-id"} {
		if v := h.Get(name); v != "" {
			fmt.Printf("%s: %s\n", name, v)
		}
	}
	fmt.Printf("subject: %s, body: %d bytes\n", msg.Subject(), len(msg.Data()))
	if err := msg.DoubleAck(ctx); err != nil {
		log.Fatal(err)
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
