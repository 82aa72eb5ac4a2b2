package natsjs_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// A URL that does not parse, or a server that cannot be reached, is a start-up
// error naming the URL; neither it nor the log shows a password or token, whatever
// nats.go says (it quotes a URL it cannot parse whole: parse "nats://user:…@…").
func TestURLSecretsNeverShown(t *testing.T) {
	t.Parallel()
	secrets := []string{"s3cretPW", "s3cretTOKEN", "s3cret/PW"}
	for _, c := range []struct{ name, url string }{
		{"password", "nats://user:s3cretPW@127.0.0.1:99x"},
		{"token", "nats://s3cretTOKEN@127.0.0.1:99x"},
		{"no scheme", "user:s3cretPW@127.0.0.1:99x"}, // nats.go adds nats://
		{"list", "nats://127.0.0.1:4222, nats://b:s3cretPW@[::1"},
		{"unescaped slash", "nats://user:s3cret/PW@127.0.0.1:4222"},
		{"list nobody listens on", "nats://user:s3cretPW@127.0.0.1:1,nats://s3cretTOKEN@127.0.0.1:2"},
		{"escaped, nobody listens", "nats://user:s3cret%2FPW@127.0.0.1:1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := c.url
			var logs testkit.LockedBuffer
			_, err := natsjs.New(t.Context(), natsjs.Config{
				URL: url, ConnectTimeout: time.Second, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
			})
			sinktest.AssertNoSecret(t, err, logs.String(), secrets...)
			var ce *sinks.ConfigError
			if !errors.As(err, &ce) || ce.Field != "URL" {
				t.Errorf("%v: want a ConfigError on URL", err)
			}
			t.Log(err)
		})
	}
}
