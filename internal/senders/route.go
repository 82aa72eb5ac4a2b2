package senders

import (
	"errors"
	"strings"
)

// DefaultRoute keeps each sender's events apart on a shared exchange or stream.
const DefaultRoute = "{sender}.{event}"

// maxRoute bounds a template: a RabbitMQ routing key is at most 255 bytes.
const maxRoute = 255

// Route is a sender's routing key (RabbitMQ) and subject suffix (NATS): a
// template over {sender} and {event}, parsed once so that rendering it per
// request is a concatenation.
type Route struct {
	template string
	pieces   []routePiece
}

type routePiece struct {
	literal string
	value   int // after the literal: 0 nothing, 1 the sender, 2 the event
}

// ParseRoute checks a template. Besides {sender} and {event} it may hold
// printable ASCII except space, '*', '>', '{' and '}': those would make a NATS
// subject invalid or a wildcard for every request, which is better refused at
// start than answered 400 each time. For the same reason it may not begin or end
// with '.', nor hold "..": a subject has no empty token.
func ParseRoute(template string) (Route, error) {
	switch {
	case template == "":
		return Route{}, errors.New("must not be empty")
	case len(template) > maxRoute:
		return Route{}, errors.New("must be at most 255 bytes")
	case template[0] == '.' || template[len(template)-1] == '.' || strings.Contains(template, ".."):
		return Route{}, errors.New("must not begin or end with '.' nor hold \"..\" (a subject has no empty token)")
	}
	r := Route{template: template}
	lit := 0 // where the current literal began
	for i := 0; i < len(template); {
		c := template[i]
		switch {
		case c == '{':
			var value int
			switch {
			case strings.HasPrefix(template[i:], "{sender}"):
				value = 1
			case strings.HasPrefix(template[i:], "{event}"):
				value = 2
			default:
				return Route{}, errors.New("may use only the placeholders {sender} and {event}")
			}
			r.pieces = append(r.pieces, routePiece{template[lit:i], value})
			i = strings.IndexByte(template[i:], '}') + i + 1
			lit = i
		case c == '}':
			return Route{}, errors.New("has a '}' outside {sender} or {event}")
		case c <= ' ' || c > '~' || c == '*' || c == '>':
			return Route{}, errors.New("may hold only printable ASCII other than space, '*' and '>' besides {sender} and {event}")
		default:
			i++
		}
	}
	if lit < len(template) {
		r.pieces = append(r.pieces, routePiece{template[lit:], 0})
	}
	return r, nil
}

// leadsWithEvent reports whether {event} appears before the route's first '.',
// in the token that tells senders apart: there an event chosen by whoever sends
// can spell another sender's keys ("{event}" with "billing.invoice.paid",
// "{sender}{event}" with "-ci.push").
func (r Route) leadsWithEvent() bool {
	for _, p := range r.pieces {
		if strings.Contains(p.literal, ".") {
			return false
		}
		if p.value == 2 {
			return true
		}
	}
	return false
}

// String returns the template as written.
func (r Route) String() string { return r.template }

// Render returns the route of one delivery.
func (r Route) Render(sender, event string) string {
	n := 0
	for _, p := range r.pieces {
		n += len(p.literal) + max(len(sender), len(event))
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range r.pieces {
		b.WriteString(p.literal)
		switch p.value {
		case 1:
			b.WriteString(sender)
		case 2:
			b.WriteString(event)
		}
	}
	return b.String()
}
