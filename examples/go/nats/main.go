// Command nats reads one message from the bridge's JetStream stream through a
// durable consumer, shows the event, the delivery id and the CloudEvents
// attributes, and acks it.
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
)

func main() {
	url := flag.String("url", "nats://127.0.0.1:4222", "NATS URL (the bridge's embedded server by default)")
	stream := flag.String("stream", "AUDIOSPLITER", "stream (BRIDGE_NATS_STREAM)")
	subject := flag.String("subject", "audiospliter.>", "subjects to read (BRIDGE_NATS_SUBJECT_PREFIX + .>, or one event)")
	durable := flag.String("consumer", "example-go", "durable consumer name")
	timeout := flag.Duration("timeout", 10*time.Second, "how long to wait for a message")
	flag.Parse()

	nc, err := nats.Connect(*url)
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
