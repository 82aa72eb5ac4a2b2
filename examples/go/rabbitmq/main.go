// Command rabbitmq reads one message from the bridge's RabbitMQ queue, shows the
// event, the delivery id, the CloudEvents attributes and the body, and acks it
// inside a consumer span that continues the bridge's trace (the traceparent header,
// present while the bridge traces).
//
//	go run ./examples/go/rabbitmq -url amqp://guest:guest@localhost:5672/ -queue audiospliter.events
//	go run ./examples/go/rabbitmq -url amqps://rabbit.internal:5671/ -ca ca.pem \
//	  -cert consumer.pem -key consumer-key.pem          # EXTERNAL: no user in the URL
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

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/audiospliter/audiospliter-bridge/examples/go/internal/connect"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("rabbitmq example: ")
	var (
		conn   connect.RabbitMQ
		common connect.Common
		queue  string
	)
	conn.Flags(flag.CommandLine)
	common.Flags(flag.CommandLine)
	connect.String(flag.CommandLine, &queue, "queue", "RABBITMQ_QUEUE", "audiospliter.events", "the queue the bridge declared, as BRIDGE_RABBITMQ_QUEUE")
	flag.Parse()

	c, err := conn.Dial("audiospliter-example-go", common)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		log.Fatal(err)
	}
	deadline := time.Now().Add(common.Timeout)
	for {
		d, ok, err := ch.Get(queue, false)
		if err != nil {
			log.Fatalf("queue %s: %v", queue, err)
		}
		if !ok {
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "no message on %s within %s\n", queue, common.Timeout)
				os.Exit(1)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		carrier := propagation.MapCarrier{}
		for _, name := range []string{"traceparent", "tracestate"} {
			if v, ok := d.Headers[name].(string); ok {
				carrier[name] = v
			}
		}
		parent := propagation.TraceContext{}.Extract(context.Background(), carrier)
		// Add sdktrace.WithBatcher(an OTLP exporter) to send the span to a collector.
		tp := sdktrace.NewTracerProvider()
		defer func() { _ = tp.Shutdown(context.Background()) }() // no exporter: nothing to flush
		_, span := tp.Tracer("example").Start(parent, "process "+queue, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(semconv.MessagingSystemRabbitMQ, semconv.MessagingOperationTypeProcess,
				semconv.MessagingMessageID(d.MessageId)))
		defer span.End()
		printTrace(span)
		// message_id is the key to skip a repeat on (the bridge may publish a
		// delivery twice after a failure): the delivery id, or <sender>:<delivery
		// id> on a bridge with several senders; ce-id is the delivery id as sent.
		fmt.Printf("event: %s\n", d.Type)
		fmt.Printf("delivery id: %v\n", d.Headers["ce-id"])
		fmt.Printf("message id: %s\n", d.MessageId)
		for _, name := range []string{"ce-specversion", "ce-id", "ce-type", "ce-source", "ce-time", "content-type", "audiospliter-job-id"} {
			if v, ok := d.Headers[name]; ok {
				fmt.Printf("%s: %v\n", name, v)
			}
		}
		fmt.Printf("routing key: %s\n", d.RoutingKey)
		fmt.Printf("body: %s\n", d.Body)
		if err := d.Ack(false); err != nil {
			log.Fatalf("acknowledge: %v", err)
		}
		fmt.Println("acknowledged")
		return
	}
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
