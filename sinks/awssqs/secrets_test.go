package awssqs_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// An endpoint or queue URL with credentials in it that does not parse, or that
// nobody answers at, is a start-up error naming the setting; neither it nor the log
// shows the password or token, whatever the AWS SDK quotes (it quotes a URL it
// cannot parse whole).
func TestURLSecretsNeverShown(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	queue := srv.CreateQueue(t, false, nil)
	secrets := []string{"s3cretPW", "s3cretTOKEN", "s3cret/PW"}
	for _, c := range []struct {
		name, endpoint, queue, field string
	}{
		{"endpoint with a password", "http://user:s3cretPW@127.0.0.1:99x", "http://127.0.0.1:99x/000000000000/q", "Endpoint"},
		{"endpoint with a token", "http://s3cretTOKEN@127.0.0.1:99x", "http://127.0.0.1:99x/000000000000/q", "Endpoint"},
		{"endpoint list", "http://127.0.0.1:1,http://u:s3cretPW@[::1", "http://127.0.0.1:1/000000000000/q", "Endpoint"},
		{"queue URL with a password", srv.Endpoint(), strings.Replace(queue, "http://", "http://user:s3cretPW@", 1), "QueueURL"},
		{"queue URL with an unescaped slash", srv.Endpoint(), strings.Replace(queue, "http://", "http://user:s3cret/PW@", 1), "QueueURL"},
		{"nobody listens", "http://user:s3cretPW@127.0.0.1:1", "http://user:s3cretPW@127.0.0.1:1/000000000000/q", "Endpoint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs testkit.LockedBuffer
			_, err := awssqs.New(t.Context(), awssqs.Config{
				Endpoint: c.endpoint, QueueURL: c.queue, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
			})
			sinktest.AssertNoSecret(t, err, logs.String(), secrets...)
			var ce *sinks.ConfigError
			if !errors.As(err, &ce) || ce.Field != c.field {
				t.Errorf("%v: want a ConfigError on %s", err, c.field)
			}
			t.Log(err)
		})
	}
}

// Check (`bridge check`, whose lines land in `kubectl logs` as a Helm test or an
// init container) shows no secret of the queue URL or the endpoint, in a line's
// name or in the SDK's errors, as New does not (TestURLSecretsNeverShown).
func TestCheckNeverShowsURLSecrets(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	queue := srv.CreateQueue(t, false, nil)
	secrets := []string{"s3cretPW", "s3cretTOKEN", "s3cret/PW"}
	for _, c := range []struct{ name, endpoint, queue string }{
		{"endpoint with a password", "http://user:s3cretPW@127.0.0.1:99x", "http://127.0.0.1:99x/000000000000/q"},
		{"endpoint with a token", "http://s3cretTOKEN@127.0.0.1:99x", "http://127.0.0.1:99x/000000000000/q"},
		{"queue URL with a password", srv.Endpoint(), strings.Replace(queue, "http://", "http://user:s3cretPW@", 1)},
		{"queue URL with an unescaped slash", srv.Endpoint(), strings.Replace(queue, "http://", "http://user:s3cret/PW@", 1)},
		{"nobody listens", "http://user:s3cretPW@127.0.0.1:1", "http://user:s3cretPW@127.0.0.1:1/000000000000/q"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range awssqs.Check(t.Context(), awssqs.Config{Endpoint: c.endpoint, QueueURL: c.queue}) {
				line := r.Name + ": " + r.Detail
				if r.Err != nil {
					line += r.Err.Error()
				}
				for _, s := range secrets {
					if strings.Contains(line, s) {
						t.Errorf("bridge check line shows %q: %s", s, line)
					}
				}
			}
		})
	}
}
