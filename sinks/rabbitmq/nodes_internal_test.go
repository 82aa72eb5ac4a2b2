package rabbitmq

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

func TestParseNodes(t *testing.T) {
	t.Parallel()
	eps, err := parseNodes(" amqp://u:s3cret@n1:5672/vh , amqps://n2, amqps://b:s3cret@[::1]:5999/?heartbeat=5")
	if err != nil {
		t.Fatal(err)
	}
	want := []endpoint{
		{dialURL: "amqp://u:s3cret@n1:5672/vh", shown: "amqp://u:xxxxx@n1:5672/vh", host: "n1", hasUser: true},
		{dialURL: "amqp://n2:5671", shown: "amqps://n2", tls: true, host: "n2"},
		{dialURL: "amqp://b:s3cret@[::1]:5999/?heartbeat=5", shown: "amqps://b:xxxxx@[::1]:5999/?heartbeat=5", tls: true, host: "::1", hasUser: true},
	}
	if !slices.Equal(eps, want) {
		t.Errorf("parseNodes =\n%+v\nwant\n%+v", eps, want)
	}
}

func TestParseNodesRefuses(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"",
		"amqp://a:5672,,amqp://b:5672",
		"amqp://a:5672,",
		"s3cret",
		"amqp://u:s3cret@[::1",
		"http://u:s3cret@a:5672",
		"amqps://a:5671/?certfile=/c.pem",
		"amqps://a:5671/?cacertfile=/ca.pem",
	} {
		_, err := parseNodes(raw)
		if err == nil {
			t.Errorf("parseNodes(%q) accepted it", raw)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("parseNodes(%q) error shows the secret: %v", raw, err)
		}
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		n, last int
		want    []int
	}{
		{3, -1, []int{0, 1, 2}}, // at start: in the order given
		{3, 0, []int{1, 2, 0}},  // lost node 0: it is tried last
		{3, 1, []int{2, 0, 1}},
		{3, 2, []int{0, 1, 2}},
		{1, 0, []int{0}},
	} {
		if got := rotation(c.n, c.last); !slices.Equal(got, c.want) {
			t.Errorf("rotation(%d, %d) = %v, want %v", c.n, c.last, got, c.want)
		}
	}
}

// When every node fails, the error names what the operator must fix: a certificate
// refused by one node matters more than another node being down.
func TestNodesError(t *testing.T) {
	t.Parallel()
	down := &sinks.ConfigError{Field: "URL", Err: errors.New("rabbitmq: connect to amqp://n1: connection refused")}
	cert := &sinks.ConfigError{Field: "TLS.CAFile", Err: errors.New("rabbitmq: connect to amqps://n2: does not verify")}
	var ce *sinks.ConfigError
	if err := nodesError([]error{down, cert, down}); !errors.As(err, &ce) || ce.Field != "TLS.CAFile" {
		t.Errorf("nodesError = %v, want the field TLS.CAFile", err)
	} else if !strings.Contains(err.Error(), "none of the 3 nodes") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("nodesError = %q: want every node's failure", err)
	}
	if err := nodesError([]error{down, down}); !errors.As(err, &ce) || ce.Field != "URL" {
		t.Errorf("nodesError = %v, want the field URL", err)
	}
	if err := nodesError([]error{cert}); err != cert { //nolint:errorlint // the very error, not one wrapping it
		t.Errorf("one node: %v, want its error as it is", err)
	}
}
