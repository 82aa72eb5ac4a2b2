package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
)

// Sender signs deliveries as one sender of a senders file does, with its scheme:
// the delivery id where the scheme carries it (a header, or Stripe's body "id"),
// the event where it carries that (GitHub's header, a configured hmac header),
// then the signature headers, with a timestamp of now for the schemes that sign
// one. AudioSpliter's own scheme is one too; a Target without a Sender signs as
// AudioSpliter does, prepared once for a load.
type Sender struct {
	Scheme verify.Scheme // from verify.New: its Identity says where things go, its Signer signs
	Secret string        // as written in the sender's secret file
	Body   []byte        // the delivery; for a scheme that reads the event from the body, it holds it
	// Event is the event of a scheme that carries it in a header; default
	// "job.completed".
	Event string
	// Name, when set, is the sender's name: the message ids the bridge makes of
	// its deliveries are "<Name>:<delivery id>" (MessageID).
	Name string
}

// MessageID is the message id the bridge gives the delivery id: with a sender
// name, "<name>:<id>".
func (s *Sender) MessageID(id string) string {
	if s == nil || s.Name == "" {
		return id
	}
	return s.Name + ":" + id
}

// Request returns the headers and body of delivery id, signed at now.
func (s *Sender) Request(id string, now time.Time) (http.Header, []byte, error) {
	signer, ok := s.Scheme.(verify.Signer)
	if !ok {
		return nil, nil, errors.New("loadgen: the scheme cannot sign")
	}
	ident := s.Scheme.Identity()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	body := s.Body
	if f := ident.Delivery.Field; f != "" {
		var err error
		if body, err = setField(body, f, id); err != nil {
			return nil, nil, err
		}
	} else {
		h.Set(ident.Delivery.Header, id)
	}
	if ev := ident.Event.Header; ev != "" {
		event := s.Event
		if event == "" {
			event = "job.completed"
		}
		h.Set(ev, event)
	}
	if err := signer.Sign(h, s.Secret, body, now); err != nil {
		return nil, nil, err
	}
	return h, body, nil
}

// setField returns the JSON object body with its top-level field set to the
// string value (the other members kept; their order is encoding/json's).
func setField(body []byte, field, value string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, fmt.Errorf("loadgen: the body must be a JSON object to carry the delivery id in %q", field)
	}
	v, _ := json.Marshal(value)
	m[field] = v
	return json.Marshal(m)
}

// SampleBody is a delivery body of the kind a scheme's senders send, with the
// fields its scheme reads: AudioSpliter's seed payload, a Standard Webhooks or
// Stripe event with "type" (Stripe's "id" is set per delivery), a GitHub event
// body (the event is a header), and for hmac an object with the configured event
// field when there is one.
func SampleBody(scheme verify.Scheme) []byte {
	ident := scheme.Identity()
	switch ident.Event.Field {
	case "":
		return []byte(`{"action":"opened","number":1,"repository":{"full_name":"audiospliter/example"}}`)
	case "event":
		return []byte(`{"event":"job.completed","jobId":"job_8f3a2c1e","data":{"segments":[{"index":0,"downloadUrl":"https://cdn.audiospliter.example/job_8f3a2c1e/0.mp3","duration":12.5}]}}`)
	case "type":
		return []byte(`{"type":"invoice.paid","data":{"object":{"id":"in_1","amount_paid":1200}}}`)
	}
	b, _ := json.Marshal(map[string]any{ident.Event.Field: "order.created", "data": map[string]any{"id": 1}})
	return b
}
