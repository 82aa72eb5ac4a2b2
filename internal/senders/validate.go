package senders

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/audiospliter/audiospliter-bridge/bridge"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
)

const (
	maxName     = 32
	maxExchange = 255 // RabbitMQ's limit on a name
)

// validate applies the rules of the contract's senders section to each entry, in the order
// of the file, and returns the first error.
func validate(doc *document, t tree) ([]Sender, error) {
	if len(doc.Senders) == 0 {
		return nil, &Error{Line: t.keyLine(-1, "senders"), Field: "senders", Msg: "must list at least one sender"}
	}
	out := make([]Sender, len(doc.Senders))
	names := map[string]int{}
	paths := map[string]int{}
	leads := map[bool]int{} // the sender whose route holds {event} before its first '.'
	for i, e := range doc.Senders {
		fail := func(field, msg string) error {
			return &Error{Line: t.keyLine(i, field), Sender: label(i, e.Name), Field: field, Msg: msg}
		}
		s, err := check(e, fail)
		if err != nil {
			return nil, err
		}
		if j, dup := names[s.Name]; dup {
			return nil, fail("name", "is also the name of sender #"+strconv.Itoa(j+1))
		}
		if j, dup := paths[s.Path]; dup {
			return nil, fail("path", "is also the path of sender "+label(j, out[j].Name))
		}
		if s.Route.leadsWithEvent() {
			if j, dup := leads[true]; dup {
				return nil, fail("route", "may hold {event} before its first '.' for one sender only, and sender "+label(j, out[j].Name)+" does: their events could spell each other's keys; begin with {sender} or a literal and a '.'")
			}
			leads[true] = i
		}
		names[s.Name], paths[s.Path] = i, i
		s.Line = t.keyLine(i, "")
		s.secretFileLine = t.keyLine(i, "secret_file")
		out[i] = s
	}
	return out, nil
}

// check applies the rules to one entry; fail makes the error of a field.
func check(e entry, fail func(field, msg string) error) (Sender, error) {
	s := Sender{Name: e.Name, Path: e.Path, Scheme: e.Scheme, SecretFile: e.SecretFile}
	switch {
	case e.Name == "":
		return s, fail("name", "is required")
	case !validName(e.Name):
		return s, fail("name", "must be 1 to 32 characters of a-z, 0-9 and -")
	}
	if err := bridge.CheckSenderPath(e.Path); err != nil {
		return s, fail("path", err.Error())
	}
	switch {
	case e.Scheme == "":
		return s, fail("scheme", "is required")
	case !slices.Contains(verify.Schemes(), e.Scheme):
		return s, fail("scheme", "must be one of "+strings.Join(verify.Schemes(), ", "))
	}
	if e.SecretFile == "" {
		return s, fail("secret_file", "is required")
	}

	if e.Tolerance != nil {
		switch {
		case !verify.Timestamped(e.Scheme):
			return s, fail("tolerance", "applies only to schemes "+verify.SchemeStandardWebhooks+" and "+verify.SchemeStripe+" (the others sign no timestamp)")
		case *e.Tolerance <= 0:
			return s, fail("tolerance", "must be positive")
		}
		s.Tolerance = *e.Tolerance
	} else if verify.Timestamped(e.Scheme) {
		s.Tolerance = verify.DefaultTolerance
	}

	route := DefaultRoute
	if e.Route != nil {
		route = *e.Route
	}
	r, err := ParseRoute(route)
	if err != nil {
		return s, fail("route", err.Error())
	}
	s.Route = r

	if d := e.Destination; d != nil {
		if d.RabbitMQ != nil {
			if d.RabbitMQ.Exchange == nil {
				return s, fail("destination.rabbitmq.exchange", "is required under destination.rabbitmq")
			}
			if err := checkExchange(*d.RabbitMQ.Exchange); err != nil {
				return s, fail("destination.rabbitmq.exchange", err.Error())
			}
			s.Destination.RabbitMQExchange = *d.RabbitMQ.Exchange
		}
		if d.SQS != nil {
			if d.SQS.QueueURL == nil {
				return s, fail("destination.sqs.queue_url", "is required under destination.sqs")
			}
			if err := checkQueueURL(*d.SQS.QueueURL); err != nil {
				return s, fail("destination.sqs.queue_url", err.Error())
			}
			s.Destination.SQSQueueURL = *d.SQS.QueueURL
		}
	}

	if h := e.HMAC; h != nil {
		if e.Scheme != verify.SchemeHMAC {
			return s, fail("hmac", "applies only to scheme "+verify.SchemeHMAC)
		}
		s.HMAC = verify.HMACConfig{
			Header: h.Header, Algorithm: h.Algorithm, Encoding: h.Encoding, Prefix: h.Prefix,
			DeliveryHeader: h.DeliveryHeader, EventHeader: h.EventHeader, EventField: h.EventField,
		}
		if s.HMAC.Algorithm == "" {
			s.HMAC.Algorithm = verify.DefaultAlgorithm
		}
		if s.HMAC.Encoding == "" {
			s.HMAC.Encoding = verify.DefaultEncoding
		}
	}
	// The scheme's own rules (hmac's above all) live in package verify, which
	// names the option as this file does.
	if err := verify.CheckOptions(s.Scheme, s.Options()); err != nil {
		var oe *verify.OptionError
		if errors.As(err, &oe) {
			return s, fail(oe.Option, oe.Problem)
		}
		return s, fail("scheme", err.Error())
	}
	// Routes keep senders apart: {event} comes after the first '.', so that the
	// first token is the sender's (or a literal of the operator's); one sender may
	// keep the single-sender layout, {event} alone, if its event is signed. An
	// event read from a header is not: anyone holding one captured delivery can
	// send it again with any event.
	if s.Route.leadsWithEvent() && eventFromHeader(s) {
		return s, fail("route", "must not hold {event} before its first '.': this scheme's event comes from a header the signature does not cover, so whoever replays a delivery could choose another sender's keys; begin with {sender} or a literal and a '.'")
	}
	return s, nil
}

// eventFromHeader reports whether the sender's event is read from a request
// header (unsigned) rather than from the signed body.
func eventFromHeader(s Sender) bool {
	switch s.Scheme {
	case verify.SchemeGitHub:
		return true
	case verify.SchemeHMAC:
		return s.HMAC.EventHeader != ""
	}
	return false
}

func validName(name string) bool {
	if len(name) == 0 || len(name) > maxName {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkExchange accepts a name RabbitMQ lets the bridge declare: the AMQP 0-9-1
// characters, and not in the reserved amq. namespace.
func checkExchange(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty (the default exchange routes by queue name)")
	case len(name) > maxExchange:
		return errors.New("must be at most 255 bytes")
	case strings.HasPrefix(name, "amq."):
		return errors.New("must not begin with amq. (reserved by RabbitMQ)")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return errors.New("may hold only A-Z a-z 0-9 and the characters - _ . and colon")
		}
	}
	return nil
}

// checkQueueURL accepts an http(s) URL that names a queue. The URL is not
// quoted back: a user part would hold a password.
func checkQueueURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return errors.New("must be an http or https URL, such as https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo")
	case u.User != nil:
		return errors.New("must not hold a user or password (credentials come from the AWS chain)")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not hold a query or fragment")
	case strings.Trim(u.Path, "/") == "" || strings.HasSuffix(u.Path, "/"):
		return errors.New("must end with the queue's name")
	}
	return nil
}
