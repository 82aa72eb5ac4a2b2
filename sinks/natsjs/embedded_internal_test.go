package natsjs

import (
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
)

// The embedded JetStream fsyncs each message before its PubAck unless told to sync
// periodically; the server's own default (every two minutes) is never left in place.
func TestEmbeddedSync(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		interval   time.Duration
		wantAlways bool
	}{
		{0, true},
		{time.Second, false},
	} {
		s, err := New(t.Context(), Config{EmbeddedListen: testkit.FreeAddr(t), DataDir: t.TempDir(), EmbeddedSyncInterval: c.interval})
		if err != nil {
			t.Fatal(err)
		}
		jsc := s.server.JetStreamConfig()
		s.Close()
		if jsc == nil {
			t.Fatal("embedded server has no JetStream")
		}
		if jsc.SyncAlways != c.wantAlways {
			t.Errorf("interval %s: SyncAlways = %v, want %v", c.interval, jsc.SyncAlways, c.wantAlways)
		}
		if c.interval > 0 && jsc.SyncInterval != c.interval {
			t.Errorf("SyncInterval = %s, want %s", jsc.SyncInterval, c.interval)
		}
	}
}
