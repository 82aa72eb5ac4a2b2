package awssqs_test

import (
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// Batching against one SendMessage per publish, 64 concurrent publishes of the
// bridge's message shape, against the local SQS-compatible server:
//
//	go test -run '^$' -bench 'SQS' -benchtime 5000x ./sinks/awssqs/

func benchSQS(b *testing.B, edit func(*awssqs.Config)) {
	sqstest.Env(b)
	srv := sqstest.Shared(b)
	url := srv.CreateQueue(b, false, nil)
	s := openSink(b, srv, url, edit)
	defer s.Close()
	b.Cleanup(func() { srv.DeleteQueue(b, url) })
	sinktest.BenchPublish(b, s, nil, 64)
}

func BenchmarkSQSSendMessageEach(b *testing.B) {
	benchSQS(b, func(c *awssqs.Config) { c.MaxBatch, c.MaxCalls = 1, 64 })
}

func BenchmarkSQSBatched(b *testing.B) { benchSQS(b, nil) }

// The same comparison through the whole bridge over HTTP.
func benchSQSBridge(b *testing.B, edit func(*awssqs.Config)) {
	sqstest.Env(b)
	srv := sqstest.Shared(b)
	url := srv.CreateQueue(b, false, nil)
	s := openSink(b, srv, url, edit)
	defer s.Close()
	b.Cleanup(func() { srv.DeleteQueue(b, url) })
	bridgetest.BenchHTTP(b, s, sinktest.NewMessage("bench").Body, 64)
}

func BenchmarkSQSBridgeSendMessageEach(b *testing.B) {
	benchSQSBridge(b, func(c *awssqs.Config) { c.MaxBatch, c.MaxCalls = 1, 64 })
}

func BenchmarkSQSBridgeBatched(b *testing.B) { benchSQSBridge(b, nil) }
