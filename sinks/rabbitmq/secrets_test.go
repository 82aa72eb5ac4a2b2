package rabbitmq_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// A URL that does not parse, a node that cannot be reached or a password the broker
// refuses is a start-up error naming the URL; neither it nor the log shows a
// password or token, whatever amqp091-go and the network say.
func TestURLSecretsNeverShown(t *testing.T) {
	t.Parallel()
	rabbittest.SharedURL(t) // the refused password needs the broker
	secrets := []string{"s3cretPW", "s3cretTOKEN", "s3cret/PW"}
	for _, c := range []struct{ name, url string }{
		{"password", "amqp://guest:s3cretPW@127.0.0.1:99x/"},
		{"token", "amqp://s3cretTOKEN@127.0.0.1:99x/"},
		{"list", "amqp://guest:guest@127.0.0.1:1/, amqp://u:s3cretPW@[::1"},
		{"unescaped slash", "amqp://guest:s3cret/PW@127.0.0.1:5672/"},
		{"list nobody listens on", "amqp://u:s3cretPW@127.0.0.1:1/,amqps://s3cretTOKEN@127.0.0.1:2/"},
		{"escaped, nobody listens", "amqp://u:s3cret%2FPW@127.0.0.1:1/"},
		{"refused", "amqp://guest:s3cretPW@127.0.0.1:5672/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs testkit.LockedBuffer
			_, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: c.url, ConnectTimeout: time.Second, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			sinktest.AssertNoSecret(t, err, logs.String(), secrets...)
			var ce *sinks.ConfigError
			if !errors.As(err, &ce) || ce.Field != "URL" {
				t.Errorf("%v: want a ConfigError on URL", err)
			}
			t.Log(err)
		})
	}
}
