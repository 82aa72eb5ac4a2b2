package awssqs

import (
	"bytes"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// The check every message passes before it is sent: the seed payload, and a body
// at the default 1 MiB limit, mostly ASCII with some accented text.
func BenchmarkCheckMessage(b *testing.B) {
	big := sinktest.NewMessage("bench-2")
	big.Body = bytes.Repeat([]byte(`{"k":"value with é and ü","n":12345},`), (1<<20)/38)
	for _, c := range []struct {
		name string
		msg  sinks.Message
	}{{"seed", sinktest.NewMessage("bench-1")}, {"1MiB", big}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.msg.Body)))
			for b.Loop() {
				if err := checkMessage(c.msg, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
