package faults

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// The fault driver (internal/bridgetest: broker and network faults under load
// through the whole bridge, stalled and slow links, replicas) run against every
// sink:
//
//	go test -run 'TestFaults/rabbitmq/SlowLink' ./test/faults/

func TestFaults(t *testing.T) {
	t.Run("rabbitmq", func(t *testing.T) { bridgetest.Run(t, rabbitHarness()) })
	t.Run("nats", func(t *testing.T) { bridgetest.Run(t, natsHarness(plainNATS)) })
	t.Run("sqs", func(t *testing.T) { bridgetest.Run(t, sqsHarness(false)) })
	t.Run("sqs-fifo", func(t *testing.T) { bridgetest.Run(t, sqsHarness(true)) })
}

// rabbitHarness runs the cases that break the broker on this binary's private node
// and the others on the shared broker.
func rabbitHarness() bridgetest.Harness {
	return bridgetest.Harness{
		Broker: func(t *testing.T, private bool) *bridgetest.Broker {
			if !private {
				return rabbitBroker(t, rabbittest.SharedURL(t))
			}
			n := rabbittest.PrivateNode(t)
			b := rabbitBroker(t, n.URL)
			b.Stop = func(t *testing.T) { n.Ctl(t, "stop_app") }
			b.Start = func(t *testing.T) {
				n.Ctl(t, "start_app")
				if err := n.WaitAMQP(60 * time.Second); err != nil {
					t.Fatal(err)
				}
			}
			b.CloseConnections = func(t *testing.T) { n.Ctl(t, "close_all_connections", "fault test") }
			b.Block = func(t *testing.T, blocked bool) {
				watermark := "0.4" // the default
				if blocked {
					watermark = "0" // a memory alarm at once
				}
				n.Ctl(t, "set_vm_memory_high_watermark", watermark)
			}
			return b
		},
		BigBody: 1 << 20,
	}
}

func rabbitBroker(t *testing.T, brokerURL string) *bridgetest.Broker {
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	return &bridgetest.Broker{
		Addr: u.Host,
		Dest: func(t *testing.T, forReplicas bool) *bridgetest.Dest {
			top := rabbittest.NewTopology(t, brokerURL)
			queueType := "classic"
			if forReplicas {
				queueType = "quorum"
			}
			r := &rabbittest.Reader{URL: brokerURL, Queue: top.Queue}
			return &bridgetest.Dest{
				Open: func(t *testing.T, addr string) (sinks.Sink, error) {
					via := *u
					via.Host = addr
					return rabbitmq.New(t.Context(), rabbitmq.Config{URL: via.String(), Exchange: top.Exchange, Queue: top.Queue, QueueType: queueType})
				},
				Read: func(t *testing.T, atLeast int) []sinktest.Received { return rabbittest.Received(r.Read(t, atLeast)) },
				Delete: func(t *testing.T) {
					conn, err := amqp.Dial(brokerURL)
					if err != nil {
						t.Fatal(err)
					}
					defer conn.Close()
					ch, err := conn.Channel()
					if err != nil {
						t.Fatal(err)
					}
					if _, err := ch.QueueDelete(top.Queue, false, false, false); err != nil {
						t.Fatal(err)
					}
				},
			}
		},
	}
}

var streamSeq atomic.Int64

// A server restart over TLS with .creds under load: the sink reconnects (a new TLS
// handshake and authentication), and nothing answered 200 is missing.
func TestFaultServerRestartedTLS(t *testing.T) {
	bridgetest.RunCases(t, natsHarness(func(t *testing.T) (*natstest.Server, func(*natsjs.Config)) {
		s := natstest.StartSecured(t)
		return s.Server, func(c *natsjs.Config) {
			c.TLSCAFile, c.TLSCertFile, c.TLSKeyFile, c.CredsFile = s.CA.File, s.Client.CertFile, s.Client.KeyFile, s.Creds
			c.ConnectTimeout = 3 * time.Second
		}
	}), "FaultBrokerRestarted")
}

func plainNATS(t *testing.T) (*natstest.Server, func(*natsjs.Config)) { return natstest.Start(t), nil }

// natsHarness gives every case a server of its own from start, which also returns
// the sink's settings for that server (TLS files, credentials) or nil.
func natsHarness(start func(t *testing.T) (*natstest.Server, func(*natsjs.Config))) bridgetest.Harness {
	return bridgetest.Harness{
		Broker: func(t *testing.T, _ bool) *bridgetest.Broker {
			ts, cfg := start(t)
			scheme, _, _ := strings.Cut(ts.URL(), "://")
			return &bridgetest.Broker{
				Addr: "127.0.0.1:" + strconv.Itoa(ts.Port),
				Dest: func(t *testing.T, _ bool) *bridgetest.Dest {
					n := streamSeq.Add(1)
					stream, prefix := fmt.Sprintf("FAULT%d", n), fmt.Sprintf("fault%d", n)
					return &bridgetest.Dest{
						Open: func(t *testing.T, addr string) (sinks.Sink, error) {
							c := natsjs.Config{URL: scheme + "://" + addr, Stream: stream, SubjectPrefix: prefix}
							if cfg != nil {
								cfg(&c)
							}
							return natsjs.New(t.Context(), c)
						},
						Read: func(t *testing.T, atLeast int) []sinktest.Received {
							var out []sinktest.Received
							for _, m := range natstest.ReadStream(t, ts.URL(), stream, atLeast, ts.ClientOptions()...) {
								out = append(out, sinktest.Received{ID: m.Header.Get(jetstream.MsgIDHeader), Body: m.Data})
							}
							return out
						},
						Delete: func(t *testing.T) {
							nc, err := nats.Connect(ts.URL(), ts.ClientOptions()...)
							if err != nil {
								t.Fatal(err)
							}
							defer nc.Close()
							js, err := jetstream.New(nc)
							if err != nil {
								t.Fatal(err)
							}
							if err := js.DeleteStream(t.Context(), stream); err != nil {
								t.Fatal(err)
							}
						},
					}
				},
				Stop: func(*testing.T) { ts.Stop() },
				Start: func(t *testing.T) {
					if err := ts.Start(); err != nil {
						t.Fatal(err)
					}
				},
				CloseConnections: func(t *testing.T) { ts.CloseClients(t) },
			}
		},
		BigBody:         512 << 10, // the server's default max_payload is 1 MiB, headers included
		Dedup:           true,
		ReadyAsksBroker: true,
		Lacks: bridgetest.Lacks{
			Block: "JetStream has no alarm that blocks publishers on connections it keeps open; a server that stops reading is the Stalled cases",
		},
	}
}

// sqsHarness runs the cases that restart the endpoint on a local server of their
// own and the others on the binary's shared one, on standard or FIFO queues.
func sqsHarness(fifo bool) bridgetest.Harness {
	return bridgetest.Harness{
		Broker: func(t *testing.T, private bool) *bridgetest.Broker {
			sqstest.Env(t)
			srv := sqstest.Shared(t)
			if private {
				srv = sqstest.Start(t)
			}
			var queues []string // to create again after a restart: the server keeps nothing
			b := &bridgetest.Broker{
				Addr: "127.0.0.1:" + strconv.Itoa(srv.Port),
				Dest: func(t *testing.T, _ bool) *bridgetest.Dest {
					queueURL := srv.CreateQueue(t, fifo, nil)
					queues = append(queues, queueURL[strings.LastIndex(queueURL, "/")+1:])
					r := &sqstest.Reader{Server: srv, URL: queueURL}
					return &bridgetest.Dest{
						Open: func(t *testing.T, addr string) (sinks.Sink, error) {
							return awssqs.New(t.Context(), awssqs.Config{QueueURL: queueURL, Endpoint: "http://" + addr})
						},
						Read: func(t *testing.T, atLeast int) []sinktest.Received { return sqstest.Received(r.Read(t, atLeast)) },
					}
				},
				RestartLosesData: true,
			}
			if private {
				b.Stop = func(*testing.T) { srv.Stop() }
				b.Start = func(t *testing.T) {
					if err := srv.Start(); err != nil {
						t.Fatal(err)
					}
					for _, q := range queues {
						srv.CreateNamedQueue(t, q, nil)
					}
				}
			}
			return b
		},
		BigBody:         192 << 10, // SQS's limit is 256 KiB, attributes included
		Dedup:           fifo,
		ReadyAsksBroker: true,
		Lacks: bridgetest.Lacks{
			CloseConnections:  "an HTTP endpoint has no connections to close at will; FaultNetworkCutAndDown cuts them",
			Block:             "SQS has no state in which it keeps connections open and takes no sends; throttling is TestFaultThrottlingUnderLoad",
			DeleteDest:        "the queue is the operator's: the sink never creates it, so a deleted queue is refused until it is made again",
			WritesLeftRunning: "a send call ends at the latest deadline of the publishes it carries (callContext): none is left running to bound",
			CloseCuts:         "Close waits for the calls in flight, each ending at the latest deadline of the publishes it carries",
		},
	}
}
