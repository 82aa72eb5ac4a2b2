package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// A cluster is given as its nodes' URLs separated by commas. amqp091-go dials one
// URL, so choosing the node is ours: the sink connects to the first node that
// answers, and after a loss it tries the others in turn starting with the one after
// the node it lost (round robin), so that a dead node is tried last. Only when every
// node has failed does the supervisor back off (connection.go).

// endpoint is one node of Config.URL, ready to dial.
type endpoint struct {
	dialURL string // what amqp091-go dials; amqps:// becomes amqp:// because TLS is ours (dial.go)
	shown   string // redacted, for logs and errors
	tls     bool
	host    string // the name the broker's certificate must carry, unless TLS.ServerName
	hasUser bool   // a user name in the URL: PLAIN even with a client certificate
}

// uriTLSParams are amqp091-go's TLS query parameters. The sink takes its TLS
// settings from Config.TLS alone, so one in the URL would be silently ignored:
// refuse it instead.
var uriTLSParams = []string{"cacertfile", "certfile", "keyfile", "server_name_indication"}

// parseNodes splits raw into the nodes of a cluster. Its errors never echo the URL:
// a malformed one may hold a password in a place the redaction cannot find.
func parseNodes(raw string) ([]endpoint, error) {
	parts := strings.Split(raw, ",")
	eps := make([]endpoint, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		which := "the URL"
		if len(parts) > 1 {
			which = fmt.Sprintf("node %d of %d in the URL list", i+1, len(parts))
		}
		if p == "" {
			return nil, fmt.Errorf("rabbitmq: %s is empty", which)
		}
		u, err := url.Parse(p)
		if err != nil || u.Host == "" || u.Opaque != "" {
			return nil, fmt.Errorf("rabbitmq: %s does not parse as amqp://user:password@host:port/vhost", which)
		}
		ep := endpoint{shown: sinks.RedactURL(p), hasUser: u.User != nil && u.User.Username() != ""}
		switch u.Scheme {
		case "amqp":
		case "amqps":
			ep.tls = true
			u.Scheme = "amqp"
			if u.Port() == "" {
				u.Host = net.JoinHostPort(u.Hostname(), "5671")
			}
		default:
			return nil, fmt.Errorf("rabbitmq: %s: scheme %q: want amqp or amqps", which, u.Scheme)
		}
		q := u.Query()
		for _, k := range uriTLSParams {
			if q.Has(k) {
				return nil, fmt.Errorf("rabbitmq: %s: the query parameter %q is not used: TLS files are separate settings", which, k)
			}
		}
		ep.host = u.Hostname()
		ep.dialURL = u.String()
		eps = append(eps, ep)
	}
	return eps, nil
}

// rotation is the order in which to try n nodes after losing node last (-1: none
// yet): the one after it first, last itself at the end.
func rotation(n, last int) []int {
	order := make([]int, n)
	for k := range order {
		order[k] = (last + 1 + k) % n
	}
	return order
}

// connectAny connects to the first node that accepts, in rotation order after the
// node of the previous session.
func (s *Sink) connectAny(ctx context.Context) (*session, error) {
	var errs []error
	for _, i := range rotation(len(s.nodes), s.lastNode) {
		ep := s.nodes[i]
		sess, err := s.connect(ctx, ep)
		if err == nil {
			s.lastNode = i
			s.log.Info("rabbitmq connected", "node", ep.shown, "tls", ep.tls, "auth", sess.conn.Config.SASL[0].Mechanism())
			return sess, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		// A topology the broker refuses is refused by every node of a cluster.
		var ce *sinks.ConfigError
		if errors.As(err, &ce) && (ce.Field == "Exchange" || ce.Field == "Queue") {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, nodesError(errs)
}

// nodesError makes one error of every node's failure. It names the field of the
// first failure that is not merely "unreachable" (a certificate, a password): that is
// what the operator must fix.
func nodesError(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	field := "URL"
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
		var ce *sinks.ConfigError
		if field == "URL" && errors.As(err, &ce) {
			field = ce.Field
		}
	}
	return &sinks.ConfigError{Field: field, Err: fmt.Errorf("rabbitmq: none of the %d nodes is usable: %s", len(errs), strings.Join(msgs, "; "))}
}
