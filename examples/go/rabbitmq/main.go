// Command rabbitmq reads one message from the bridge's RabbitMQ queue, shows the
// event, the delivery id and the CloudEvents attributes, and acks it.
//
//	go run ./examples/go/rabbitmq -url amqp://guest:guest@localhost:5672/ -queue audiospliter.events
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

func main() {
	url := flag.String("url", "amqp://guest:guest@localhost:5672/", "RabbitMQ URL")
	queue := flag.String("queue", "audiospliter.events", "queue the bridge declared (BRIDGE_RABBITMQ_QUEUE)")
	timeout := flag.Duration("timeout", 10*time.Second, "how long to wait for a message")
	flag.Parse()

	conn, err := amqp.Dial(*url)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		log.Fatal(err)
	}
	deadline := time.Now().Add(*timeout)
	for {
		d, ok, err := ch.Get(*queue, false)
		if err != nil {
			log.Fatal(err)
		}
		if !ok {
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "no message on %s within %s\n", *queue, *timeout)
				os.Exit(1)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		// message_id is the delivery id: a consumer that has seen it before skips
		// the message (the bridge may publish a delivery twice after a failure).
		fmt.Printf("event: %s\n", d.Type)
		fmt.Printf("delivery id: %s\n", d.MessageId)
		for _, name := range []string{"ce-specversion", "ce-id", "ce-type", "ce-source", "ce-time", "content-type", "audiospliter-job-id"} {
			if v, ok := d.Headers[name]; ok {
				fmt.Printf("%s: %v\n", name, v)
			}
		}
		fmt.Printf("routing key: %s, body: %d bytes\n", d.RoutingKey, len(d.Body))
		if err := d.Ack(false); err != nil {
			log.Fatal(err)
		}
		fmt.Println("acknowledged")
		return
	}
}
