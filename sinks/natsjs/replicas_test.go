package natsjs_test

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// Three replicas of the bridge on one JetStream server, each with its own sink and
// dedup cache, started at the same moment (each makes sure the stream exists). A
// delivery id sent to two replicas at once is published twice; JetStream's dedup
// window, not anything the replicas share, keeps one message per delivery id.
func TestReplicasOfTheBridge(t *testing.T) {
	ts := startServer(t)
	cfg := natsjs.Config{URL: ts.URL(), Stream: "REPLICAS", SubjectPrefix: "replicas"}
	bridges := sinktest.StartReplicas(t, 3, func() (sinks.Sink, error) { return natsjs.New(t.Context(), cfg) })
	sent := sinktest.SendToReplicas(t, bridges, 300, 100)

	var found []string
	for _, m := range natstest.ReadStream(t, ts.URL(), cfg.Stream, len(sent.IDs)) {
		found = append(found, m.Header.Get(jetstream.MsgIDHeader))
	}
	r := loadgen.Compare(sent.IDs, found)
	t.Logf("3 replicas: %d deliveries (%d of them sent to two replicas at once), %d messages in the stream, %d distinct, lost %d, duplicates %d",
		len(sent.IDs), len(sent.Pairs), len(found), r.Found, len(r.Lost), r.Duplicates)
	if len(r.Lost) > 0 || r.Duplicates > 0 || len(r.Unexpected) > 0 {
		t.Errorf("lost %v, duplicates %d, unexpected %v: want one message per delivery id", r.Lost, r.Duplicates, r.Unexpected)
	}
}
