package rabbitmq_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// The three benchmarks below publish ~1 KiB persistent, confirmed messages from 64
// goroutines to the same local broker, so their msgs/s and latencies compare:
//
//	go test -run '^$' -bench 'Direct|SinkPublish|BridgeHTTP' -benchtime 20000x ./sinks/rabbitmq/
//
// BenchmarkDirectPublisher is the ceiling: amqp091-go alone with deferred confirms on
// the same number of channels the sink uses.

const benchConcurrency = 64

var benchBody = func() []byte {
	pad := bytes.Repeat([]byte("x"), 1024-120)
	return []byte(fmt.Sprintf(`{"event":"job.completed","jobId":"job_bench","data":{"segments":[],"pad":"%s"}}`, pad))
}()

// parallel runs op from benchConcurrency goroutines, b.N times in all.
func parallel(b *testing.B, op func(i int64) error) { sinktest.Parallel(b, benchConcurrency, op) }

func benchTopology(b *testing.B, url string) topology {
	b.Helper()
	top := newTopology(b, url)
	b.Cleanup(func() {
		if conn, err := amqp.Dial(url); err == nil {
			if ch, err := conn.Channel(); err == nil {
				_, _ = ch.QueuePurge(top.queue, false)
			}
			conn.Close()
		}
	})
	return top
}

func BenchmarkDirectPublisher(b *testing.B) {
	url := rabbittest.SharedURL(b)
	top := benchTopology(b, url)
	s := openSink(b, url, top, "classic") // declares the same topology
	s.Close()
	conn, err := amqp.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	chans := make([]*amqp.Channel, 4)
	for i := range chans {
		ch, err := conn.Channel()
		if err != nil {
			b.Fatal(err)
		}
		if err := ch.Confirm(false); err != nil {
			b.Fatal(err)
		}
		chans[i] = ch
	}
	// The same headers the bridge sends, so both put the same bytes on the wire.
	headers := amqp.Table{}
	for _, h := range sinktest.NewMessage("direct-0000").Headers {
		headers[h.Name] = h.Value
	}
	b.ReportAllocs()
	parallel(b, func(i int64) error {
		dc, err := chans[i%4].PublishWithDeferredConfirm(top.exchange, "job.completed", true, false, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Type: "job.completed",
			AppId: "audiospliter-bridge", Timestamp: time.Now(), Headers: headers,
			MessageId: fmt.Sprintf("direct-%d", i), Body: benchBody,
		})
		if err != nil {
			return err
		}
		if !dc.Wait() {
			return fmt.Errorf("nack")
		}
		return nil
	})
}

func BenchmarkSinkPublish(b *testing.B) {
	url := rabbittest.SharedURL(b)
	s := openSink(b, url, benchTopology(b, url), "classic")
	defer s.Close()
	msg := sinktest.NewMessage("bench")
	msg.Body = benchBody
	b.ReportAllocs()
	parallel(b, func(i int64) error {
		m := msg
		m.ID = fmt.Sprintf("sink-%d", i)
		return s.Publish(b.Context(), m)
	})
}

// BenchmarkBridgeHTTP is the whole bridge: signed POSTs over loopback HTTP/1.1
// keep-alive connections, verified, parsed, published and confirmed. The client is a
// lean one (a prepared request per connection, as wrk sends) so that, on a machine
// where client, bridge and broker share two cores, the client costs the bridge as
// little CPU as possible.
func BenchmarkBridgeHTTP(b *testing.B) {
	url := rabbittest.SharedURL(b)
	s := openSink(b, url, benchTopology(b, url), "classic")
	defer s.Close()
	br, err := bridge.New(bridge.Config{
		Secrets: []string{faultSecret}, DedupTTL: time.Minute, MaxInFlight: 4096,
		CETypePrefix: bridge.DefaultCETypePrefix, Sink: s, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(br)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	head := fmt.Sprintf("POST /webhooks HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s: %s\r\nContent-Length: %d\r\n%s: ",
		addr, bridge.SignatureHeader, bridge.Sign(faultSecret, benchBody), len(benchBody), bridge.DeliveryHeader)
	conns := make(chan *rawConn, benchConcurrency)
	for range benchConcurrency {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns <- &rawConn{c: c, r: bufio.NewReader(c)}
	}
	b.ReportAllocs()
	parallel(b, func(i int64) error {
		c := <-conns
		defer func() { conns <- c }()
		return c.post(head, fmt.Sprintf("http-%d", i), benchBody)
	})
}

// rawConn sends prepared POSTs on one keep-alive connection.
type rawConn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
}

func (c *rawConn) post(head, id string, body []byte) error {
	c.buf = append(c.buf[:0], head...)
	c.buf = append(c.buf, id...)
	c.buf = append(c.buf, "\r\n\r\n"...)
	c.buf = append(c.buf, body...)
	if _, err := c.c.Write(c.buf); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
