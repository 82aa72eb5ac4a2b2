package rabbitmq_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// A node list in front of one broker, each entry a proxy: the sink starts with the
// first entry dead, fails over to the next entry when its proxy goes down, and comes
// back round to the first when that one is the only one left.
func TestNodeListRoundRobin(t *testing.T) {
	t.Parallel()
	shared := rabbittest.SharedURL(t)
	u, _ := url.Parse(shared)
	proxies := []*testkit.Proxy{testkit.StartProxy(t, u.Host), testkit.StartProxy(t, u.Host), testkit.StartProxy(t, u.Host)}
	list := ""
	for i, p := range proxies {
		if i > 0 {
			list += ","
		}
		list += fmt.Sprintf("amqp://guest:guest@%s/", p.Addr())
	}
	proxies[0].SetDown(true)
	top := rabbittest.NewTopology(t, shared)
	var log testkit.LockedBuffer
	s, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: list, Exchange: top.Exchange, Queue: top.Queue, Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	if err != nil {
		t.Fatalf("New with the first node down: %v", err)
	}
	defer s.Close()
	waitNode := func(want int, connects int) {
		t.Helper()
		testkit.Eventually(t, 15*time.Second, func() bool {
			addr, n := rabbittest.ConnectedTo(log.String())
			return addr == proxies[want].Addr() && n == connects && s.Ready(t.Context()) == nil
		}, "want node %d (%s) after %d connects; the sink's log:\n%s", want, proxies[want].Addr(), connects, &log)
	}
	publish := func(id string) {
		t.Helper()
		if err := s.Publish(t.Context(), sinktest.NewMessage(id)); err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
	}
	waitNode(1, 1)
	publish("rr-1")
	proxies[0].SetDown(false)
	proxies[1].SetDown(true) // cuts the live connection: the next node is 2
	waitNode(2, 2)
	publish("rr-2")
	proxies[2].SetDown(true) // 0 is next, and the only one up
	waitNode(0, 3)
	publish("rr-3")
	got := (&rabbittest.Reader{URL: shared, Queue: top.Queue}).Read(t, 3)
	if len(got) != 3 {
		t.Fatalf("queue holds %d messages, want 3", len(got))
	}
}

// When no node of a list can be reached, the start-up error names each one, with no
// password in it.
func TestNodeListAllDown(t *testing.T) {
	t.Parallel()
	a, b := testkit.FreeAddr(t), testkit.FreeAddr(t)
	list := fmt.Sprintf("amqp://u:s3cret-a@%s/, amqps://u:s3cret-b@%s/", a, b)
	_, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: list, ConnectTimeout: time.Second})
	var ce *sinks.ConfigError
	if !errors.As(err, &ce) || ce.Field != "URL" {
		t.Fatalf("New = %v, want a ConfigError on URL", err)
	}
	for _, want := range []string{"none of the 2 nodes", a, b} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows a password: %v", err)
	}
}
