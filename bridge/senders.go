package bridge

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
)

// Sender is one webhook sender of a bridge with several (a senders file): its own
// path, its own scheme (with its secrets), its route. The contract's senders
// section says what changes for them: the order of checks of the single sender
// holds per sender, and the message id is "<Name>:<delivery id>".
type Sender struct {
	// Name is the sender's name: the ce-source and audiospliter-sender of its
	// messages, the prefix of their message ids, the sender label of its metrics
	// and log lines.
	Name string
	// Path is where its deliveries arrive, matched exactly: a path that differs by
	// a trailing slash is not the sender's (404).
	Path string
	// Scheme verifies its deliveries and says where their delivery id and event
	// are. Its secrets are replaced with its own SetSecrets.
	Scheme verify.Scheme
	// Route renders a delivery's routing key or subject suffix from the sender's
	// name and the event; nil routes by the event.
	Route Router
}

// Router renders a route (internal/senders.Route is one).
type Router interface {
	Render(sender, event string) string
}

// sender is a Sender ready to serve.
type sender struct {
	Sender
	identity verify.Identity
	env      envelope // the body fields its scheme reads
	// typePrefix goes before the event in ce-type: BRIDGE_CE_TYPE_PREFIX for
	// scheme audiospliter, nothing for the others (their events are their own).
	typePrefix string
	idPrefix   string // "<name>:"
	// Answers of its own, made once.
	missingDelivery, badDelivery []byte
	missingEvent, badEvent       []byte
	series                       *series
}

// maxSenderName bounds a sender's name, as the senders file does.
const maxSenderName = 32

// newSenders checks the senders of cfg and prepares them; the caller has checked
// that Secrets and WebhookPath are left empty.
func newSenders(cfg Config) ([]*sender, error) {
	out := make([]*sender, 0, len(cfg.Senders))
	names, paths := map[string]bool{}, map[string]bool{}
	for i, s := range cfg.Senders {
		switch {
		case !validSenderName(s.Name):
			return nil, fmt.Errorf("bridge: sender %d: name %q must be 1 to 32 characters of a-z, 0-9 and -", i+1, s.Name)
		case names[s.Name]:
			return nil, fmt.Errorf("bridge: sender %q is named twice", s.Name)
		case CheckSenderPath(s.Path) != nil:
			return nil, fmt.Errorf("bridge: sender %q: path %q %w", s.Name, s.Path, CheckSenderPath(s.Path))
		case paths[s.Path]:
			return nil, fmt.Errorf("bridge: sender %q: path %q is another sender's", s.Name, s.Path)
		case s.Scheme == nil:
			return nil, fmt.Errorf("bridge: sender %q has no scheme", s.Name)
		}
		names[s.Name], paths[s.Path] = true, true
		id := s.Scheme.Identity()
		snd := &sender{Sender: s, identity: id, idPrefix: s.Name + ":"}
		snd.env = envelope{event: id.Event.Field, delivery: id.Delivery.Field}
		if _, ok := s.Scheme.(*verify.AudioSpliter); ok {
			snd.typePrefix = cfg.CETypePrefix
		}
		if h := id.Delivery.Header; h != "" {
			snd.missingDelivery = errorBody("missing " + h + " header")
			snd.badDelivery = errorBody(h + " must be 1-128 characters of A-Z a-z 0-9 . _ : -")
		}
		if h := id.Event.Header; h != "" {
			snd.missingEvent = errorBody("missing " + h + " header (the event)")
			snd.badEvent = errorBody(h + " (the event) must be UTF-8 without control characters")
		}
		out = append(out, snd)
	}
	return out, nil
}

// validSenderName is the senders file's rule: 1 to 32 of [a-z0-9-]. No ':', so
// that "<name>:<delivery id>" is read back one way only.
func validSenderName(name string) bool {
	if len(name) == 0 || len(name) > maxSenderName {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// errSendersAndSingle is a Config that sets both ways of naming senders.
var errSendersAndSingle = errors.New("bridge: Senders replace Secrets and WebhookPath: set one or the other")

// ownPaths are the bridge's own endpoints, which no sender may take.
var ownPaths = []string{"/healthz", "/readyz", "/metrics"}

// CheckSenderPath accepts a sender's path if it is an absolute path of segments of URL-unreserved characters.
// It refuses a trailing slash rather than trimming it: net/http serves a pattern
// that ends in "/" for every path below it, so "/webhooks/x/" would take
// deliveries meant for an unknown path (404), and "/a" and "/a/" would be two
// spellings of one sender. With one spelling, paths that differ only by a
// trailing slash cannot both be configured. Empty, "." and ".." segments, which
// net/http redirects, and characters it reads as a pattern ("{", " ") are
// refused too.
func CheckSenderPath(p string) error {
	switch {
	case p == "":
		return errors.New("is required")
	case p[0] != '/':
		return errors.New("must start with /")
	case len(p) > 256:
		return errors.New("must be at most 256 bytes")
	case strings.HasSuffix(p, "/"):
		return errors.New("must not end with / (net/http would serve every path below it)")
	case slices.Contains(ownPaths, p):
		return errors.New("is one of the bridge's own endpoints (" + strings.Join(ownPaths, ", ") + ")")
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return errors.New("must not hold empty, . or .. segments")
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
				return errors.New("may hold only A-Z a-z 0-9 - . _ ~ between its slashes")
			}
		}
	}
	return nil
}
