package connect

import "testing"

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                         "nats://127.0.0.1:4222",
		"nats://s3cret-token@127.0.0.1:4222":            "nats://xxxxx@127.0.0.1:4222",
		"tls://consumer:s3cret@nats.internal:4222":      "tls://consumer:xxxxx@nats.internal:4222",
		"amqps://consumer:s3cret@rabbit.internal:5671/": "amqps://consumer:xxxxx@rabbit.internal:5671/",
		"tls://a:s3cret@n1:4222,tls://a:s3cret@n2:4222": "tls://a:xxxxx@n1:4222,tls://a:xxxxx@n2:4222",
		"nats://s3cret%zz@host:4222":                    "(a URL that does not parse)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
