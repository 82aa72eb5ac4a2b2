// Package sqstest runs the local SQS-compatible server (fauxqs, pinned in
// .ci/fauxqs) for tests, and gives them a client. Without Node or the installed
// package the tests skip with instructions; under CI they fail instead.
package sqstest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

const howToRun = "install the pinned server once with `npm ci --prefix .ci/fauxqs` (Node 20+); .ci/run does this and makes these tests required"

// Server is one fauxqs process on a port of its own. It keeps no state: a restart
// loses every queue.
type Server struct {
	Port int
	cli  string
	log  string
	cmd  *exec.Cmd
}

// Env sets the AWS variables a test process needs for a local server: dummy
// credentials, a region, and no instance metadata lookups. They are the process's
// environment (t.Setenv), so a test that calls Env cannot run in parallel.
func Env(t testing.TB) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// Start runs a new server for t, stopped at the end of t.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := newServer(filepath.Join(t.TempDir(), "fauxqs.log"))
	if err != nil {
		skipOrFail(t, err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Shared returns one server for the whole test binary (StopShared ends it).
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fauxqs-")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = newServer(filepath.Join(dir, "fauxqs.log"))
		if sharedErr == nil {
			sharedErr = shared.Start()
		}
	})
	if sharedErr != nil {
		skipOrFail(t, sharedErr)
	}
	return shared
}

// StopShared stops the shared server if this binary started it.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("SQS-compatible server required in CI: %v", err)
	}
	t.Skipf("no local SQS-compatible server (%v): %s", err, howToRun)
}

func newServer(logPath string) (*Server, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return nil, fmt.Errorf("node not found")
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	cli := filepath.Join(root, ".ci", "fauxqs", "node_modules", "fauxqs", "dist", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		return nil, fmt.Errorf("%s not installed", cli)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return &Server{Port: port, cli: cli, log: logPath}, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Endpoint is the server's URL, for BRIDGE_SQS_ENDPOINT.
func (s *Server) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.Port) }

// Start starts the process on s.Port and waits for its health check.
func (s *Server) Start() error {
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command("node", s.cli)
	cmd.Env = append(os.Environ(), "FAUXQS_PORT="+strconv.Itoa(s.Port), "FAUXQS_HOST=127.0.0.1")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	s.cmd = cmd
	go func() { _ = cmd.Wait(); logf.Close() }()
	if !testkit.Poll(30*time.Second, func() bool {
		resp, err := http.Get(s.Endpoint() + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		s.Stop()
		return fmt.Errorf("fauxqs did not answer /health on port %d in 30s (log: %s)", s.Port, s.log)
	}
	return nil
}

// Stop kills the process and waits until its port is free.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	testkit.Poll(10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port), 100*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	s.cmd = nil
}

// Client returns an SQS client for the server; the caller must have called Env.
func (s *Server) Client(t testing.TB) *sqs.Client {
	t.Helper()
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Endpoint()),
		Credentials:  aws.NewCredentialsCache(staticCreds{}),
		Retryer:      retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None }),
	})
}

type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", Source: "sqstest"}, nil
}

var queueSeq atomic.Int64

// CreateQueue creates a queue of its own for a test and returns its URL. A FIFO
// queue gets the .fifo suffix; attrs may set more attributes.
func (s *Server) CreateQueue(t testing.TB, fifo bool, attrs map[string]string) string {
	t.Helper()
	name := fmt.Sprintf("bridge-test-%d-%d", time.Now().UnixNano(), queueSeq.Add(1))
	if fifo {
		name += ".fifo"
	}
	return s.CreateNamedQueue(t, name, attrs)
}

// CreateNamedQueue creates (or recreates, after a restart) the queue name; a name
// ending in .fifo makes a FIFO queue.
func (s *Server) CreateNamedQueue(t testing.TB, name string, attrs map[string]string) string {
	t.Helper()
	all := map[string]string{}
	if strings.HasSuffix(name, ".fifo") {
		all["FifoQueue"] = "true"
	}
	for k, v := range attrs {
		all[k] = v
	}
	out, err := s.Client(t).CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: all})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// Reader drains a queue and remembers everything it took, so repeated reads see
// every message read so far.
type Reader struct {
	Server *Server
	URL    string
	mu     sync.Mutex
	got    []types.Message
}

// Read returns every message taken so far, waiting until there are at least
// atLeast or ten seconds have passed.
func (r *Reader) Read(t testing.TB, atLeast int) []types.Message {
	t.Helper()
	c := r.Server.Client(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	testkit.Poll(10*time.Second, func() bool {
		for {
			out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
				QueueUrl:                    aws.String(r.URL),
				MaxNumberOfMessages:         10,
				MessageAttributeNames:       []string{"All"},
				MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
				// Short: a receive whose answer was lost on the way (and is retried) hides
				// its messages only briefly; they come back before the read gives up.
				VisibilityTimeout: 3,
			})
			if err != nil {
				t.Fatalf("receive from %s: %v", r.URL, err)
			}
			if len(out.Messages) == 0 {
				return len(r.got) >= atLeast && r.empty(c)
			}
			for _, m := range out.Messages {
				r.got = append(r.got, m)
				_, _ = c.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(r.URL), ReceiptHandle: m.ReceiptHandle})
			}
		}
	})
	return append([]types.Message(nil), r.got...)
}

// empty reports whether the queue holds nothing, in flight included: a receive
// whose answer was lost leaves messages invisible for a while, and counting alone
// (other messages may make up the number) would stop the read too early.
func (r *Reader) empty(c *sqs.Client) bool {
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(r.URL),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return false
	}
	return out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)] == "0" &&
		out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)] == "0"
}

// DeleteQueue removes a queue (the server keeps messages in memory).
func (s *Server) DeleteQueue(t testing.TB, url string) {
	t.Helper()
	_, _ = s.Client(t).DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
}

// Received returns the messages as the conformance suite compares them. SQS makes
// its own MessageId; the message id travels as MessageDeduplicationId on FIFO
// queues, and is otherwise the delivery id (audiospliter-delivery), after the
// sender's name and a colon when the message names its sender
// (audiospliter-sender), as the bridge makes it with a senders file.
func Received(ms []types.Message) []sinktest.Received {
	out := make([]sinktest.Received, 0, len(ms))
	for _, m := range ms {
		r := sinktest.Received{Body: []byte(aws.ToString(m.Body)), Headers: map[string]string{}}
		for k, v := range m.MessageAttributes {
			r.Headers[k] = aws.ToString(v.StringValue)
		}
		r.ID = r.Headers[sinks.HeaderDelivery]
		if sender := r.Headers[sinks.HeaderSender]; sender != "" {
			r.ID = sender + ":" + r.ID
		}
		if id, ok := m.Attributes[string(types.MessageSystemAttributeNameMessageDeduplicationId)]; ok && id != "" {
			r.ID = id
		}
		out = append(out, r)
	}
	return out
}

// BadBodies returns bodies SQS cannot carry as they are: each must fail alone, before
// any call, and never take the messages batched with it down (before, the SDK
// replaced the invalid bytes, SQS stored a different body, the SDK's MD5 check
// failed the whole SendMessageBatch and batch-mates that SQS already held were
// sent again).
func BadBodies() map[string][]byte {
	return map[string][]byte{
		"invalid UTF-8":     []byte("{\"event\":\"job.completed\",\"note\":\"caf\xe9\"}"),
		"U+FFFF":            []byte("{\"event\":\"job.completed\",\"note\":\"\uffff\"}"),
		"control character": []byte("{\"event\":\"job.completed\"}\x01"),
	}
}
