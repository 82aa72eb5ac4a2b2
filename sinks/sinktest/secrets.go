package sinktest

import (
	"strings"
	"testing"
)

// AssertNoSecret fails t unless err is an error and neither its text nor logs holds
// any of secrets: what a sink says about a configuration it cannot use must never
// show the password or token in it (the shape of alertmanager's
// AssertNotifyLeaksNoSecret).
func AssertNoSecret(t testing.TB, err error, logs string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the error shows the secret %q: %v", s, err)
		}
		if strings.Contains(logs, s) {
			t.Errorf("the log shows the secret %q:\n%s", s, logs)
		}
	}
}
