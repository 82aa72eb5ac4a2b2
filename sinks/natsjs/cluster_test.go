package natsjs_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// An operator's stream with other settings is used as it is (never updated), and
// the difference is logged once.
func TestExistingStreamUsedAsItIs(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	nc, err := nats.Connect(ts.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: "OPS", Subjects: []string{"ops.>"}, Storage: jetstream.MemoryStorage, Duplicates: time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	var logs testkit.LockedBuffer
	// Three replicas on a single server could not be created: proof that the
	// existing stream is taken as it is.
	s, err := natsjs.New(t.Context(), natsjs.Config{URL: ts.URL(), Stream: "OPS", SubjectPrefix: "ops", Replicas: 3,
		DuplicateWindow: 10 * time.Minute, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Publish(t.Context(), sinktest.NewMessage("ops-1")); err != nil {
		t.Fatal(err)
	}
	info := natstest.StreamInfo(t, js, "OPS")
	if info.Config.Replicas != 1 || info.Config.Storage != jetstream.MemoryStorage || info.Config.Duplicates != time.Minute {
		t.Errorf("the bridge changed the operator's stream: %+v", info.Config)
	}
	if n := strings.Count(logs.String(), "using the existing jetstream stream as it is"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
	for _, want := range []string{`"replicas":1`, `"bridge_replicas":3`, `"storage":"Memory"`, `"duplicate_window":"1m0s"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}
