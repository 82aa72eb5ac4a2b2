package natsjs

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestParsePubAck(t *testing.T) {
	for _, c := range []struct {
		data      string
		duplicate bool
		seq       string
		err       error
		code      jetstream.ErrorCode
	}{
		{data: `{"stream":"S","seq":42}`, seq: "42"},
		{data: `{"stream":"S","seq":7,"duplicate":true}`, duplicate: true, seq: "7"},
		{data: `{"stream":"S","domain":"hub","seq":9}`, seq: "9"},
		{data: ` {"seq":3,"stream":"S"}`, seq: "3"}, // another order: the slow path
		{data: `{"error":{"code":400,"err_code":10054,"description":"message size exceeds maximum allowed"},"stream":"S"}`, code: jetstream.JSErrCodeStreamMessageExceedsMaximum},
		{data: `{"stream":"S","error":{"code":503,"err_code":10077,"description":"x"}}`, code: 10077},
		{data: `{"stream":"SS","seq":1}`, err: jetstream.ErrInvalidJSAck},
		{data: `{"stream":"","seq":1}`, err: jetstream.ErrInvalidJSAck},
		{data: `not json`, err: jetstream.ErrInvalidJSAck},
		{data: ``, err: jetstream.ErrInvalidJSAck},
	} {
		ack, err := parsePubAck([]byte(c.data), "S")
		var apiErr *jetstream.APIError
		switch {
		case c.code != 0:
			if !errors.As(err, &apiErr) || apiErr.ErrorCode != c.code {
				t.Errorf("%s: %v, want the server's error %d", c.data, err, c.code)
			}
		case c.err != nil:
			if !errors.Is(err, c.err) {
				t.Errorf("%s: %v, want %v", c.data, err, c.err)
			}
		case err != nil || ack.duplicate != c.duplicate || string(ack.seq) != c.seq:
			t.Errorf("%s: %+v %v, want duplicate %v seq %s", c.data, ack, err, c.duplicate, c.seq)
		}
	}
}

// Whatever the reply, the parser never panics, and never takes a reply that
// carries an error for an ack.
func FuzzParsePubAck(f *testing.F) {
	f.Add([]byte(`{"stream":"S","seq":1,"duplicate":true}`))
	f.Add([]byte(`{"error":{"code":1,"err_code":2}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ack, err := parsePubAck(data, "S")
		if err != nil {
			return
		}
		var resp struct {
			Error *jetstream.APIError `json:"error"`
		}
		if json.Unmarshal(data, &resp) != nil {
			return // not JSON: no server writes this
		}
		if resp.Error != nil {
			t.Fatalf("%q: accepted as %+v, but it carries an error", data, ack)
		}
	})
}
