package app_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/app"
	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
)

// postSigned posts the sample signed with secret and returns the status.
func (r *running) postSigned(t *testing.T, secret, delivery string) int {
	t.Helper()
	return apptest.PostSigned(t, r.addr, secret, sample, delivery).Status
}

// writeAtomic replaces path's content the way an editor or a config tool does.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

const (
	secretA = "secret-a,with,commas-0123456789"
	secretB = "secret-b-0123456789abcdef"
	secretC = "secret-c-0123456789abcdef"
)

// docs/configuration.md: BRIDGE_WEBHOOK_SECRET_FILE holds one secret per line (commas are part of
// it) and is read again when it changes (checked every 2 s; the test allows 10 s on a
// loaded machine): the next request is
// verified against the new set. A file that turns empty or unreadable keeps the
// previous set and says so in the log. Rotated in place, and the Kubernetes way (a
// symlinked directory swapped under the mounted path).
func TestSecretFileRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Kubernetes: secret -> ..data/secret, ..data -> ..v1
	if err := os.Mkdir(filepath.Join(dir, "..v1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "..v1", "secret"), []byte("# rotated by hand\n\n"+secretA+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, "..v1", filepath.Join(dir, "..data"))
	mustSymlink(t, filepath.Join("..data", "secret"), filepath.Join(dir, "secret"))
	path := filepath.Join(dir, "secret")

	b := startBridge(t, func(c *config.Config) { c.WebhookSecret, c.WebhookSecretFile = "", path })
	if st := b.postSigned(t, secretA, "a-1"); st != 200 {
		t.Fatalf("secret with commas from the file: %d", st)
	}
	if st := b.postSigned(t, "secret-a", "a-2"); st != 401 {
		t.Fatalf("a piece of the secret before a comma was accepted: %d", st)
	}

	// The Kubernetes swap: a new directory, and ..data pointed at it atomically.
	if err := os.Mkdir(filepath.Join(dir, "..v2"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "..v2", "secret"), []byte(secretA+"\n"+secretB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, "..v2", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	swapped := time.Now()
	testkit.Eventually(t, 10*time.Second, func() bool { return b.postSigned(t, secretB, "b-probe") == 200 },
		"the new secret was not accepted after the symlink swap")
	t.Logf("symlink swap noticed after %s", time.Since(swapped))
	if st := b.postSigned(t, secretA, "a-3"); st != 200 {
		t.Errorf("the secret kept in the new file: %d", st)
	}

	// The file edited in place: secret A retired.
	if err := os.WriteFile(filepath.Join(dir, "..v2", "secret"), []byte(secretB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return b.postSigned(t, secretA, "a-probe") == 401 },
		"the retired secret was still accepted after the file changed")
	if st := b.postSigned(t, secretB, "b-2"); st != 200 {
		t.Errorf("the remaining secret: %d", st)
	}

	// A file with no secret, then no file: the last good set stays, errors are logged.
	writeAtomic(t, filepath.Join(dir, "..v2", "secret"), "# nothing here\n\n")
	testkit.Eventually(t, 10*time.Second, func() bool { return strings.Contains(b.stderr.String(), "holds no secret") },
		"no error logged for a file without secrets:\n%s", b.stderr)
	if st := b.postSigned(t, secretB, "b-3"); st != 200 {
		t.Errorf("after an empty file the previous secret got %d, want 200", st)
	}
	if err := os.Remove(filepath.Join(dir, "..v2", "secret")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return strings.Contains(b.stderr.String(), "no such file") },
		"no error logged for a missing file:\n%s", b.stderr)
	if st := b.postSigned(t, secretB, "b-4"); st != 200 {
		t.Errorf("after the file vanished the previous secret got %d, want 200", st)
	}
	if n := strings.Count(b.stderr.String(), "holds no secret"); n != 1 {
		t.Errorf("the same problem was logged %d times, want once", n)
	}
	for _, leak := range []string{secretA, secretB, "secret-a"} {
		if strings.Contains(b.stderr.String(), leak) {
			t.Errorf("the log contains a secret %q", leak)
		}
	}
}

// A reload request (SIGHUP in the command; test/ sends the signal to the binary)
// reads the file at once, without waiting for the poll.
func TestSecretFileReloadRequest(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(path, []byte(secretB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reload := make(chan struct{})
	b := startBridge(t, func(c *config.Config) { c.WebhookSecret, c.WebhookSecretFile = "", path },
		func(o *app.Options) { o.Reload, o.ReloadEvery = reload, time.Hour })
	if st := b.postSigned(t, secretB, "b-1"); st != 200 {
		t.Fatalf("%d", st)
	}
	writeAtomic(t, path, secretC+"\n")
	time.Sleep(300 * time.Millisecond) // time for a poll to pick the file up, which must not happen
	if st := b.postSigned(t, secretC, "c-early"); st != 401 {
		t.Fatalf("the new secret worked before the reload request with an hour-long poll: %d (the test would prove nothing)", st)
	}
	reload <- struct{}{}
	testkit.Eventually(t, 2*time.Second, func() bool { return b.postSigned(t, secretC, "c-1") == 200 },
		"the reload request did not bring in the new secret")
	if st := b.postSigned(t, secretB, "b-2"); st != 401 {
		t.Errorf("the replaced secret: %d, want 401", st)
	}
	if err := b.stop(t); err != nil {
		t.Errorf("Run returned %v after a reload and shutdown, want nil", err)
	}
}

// docs/configuration.md: the ingress TLS pair is read again when it changes: a new handshake
// gets the new certificate; a broken pair keeps the last good one.
func TestCertificateRotation(t *testing.T) {
	t.Parallel()
	certA, keyA, _ := selfSigned(t)
	certB, keyB, _ := selfSigned(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	copyFile(t, certA, certFile)
	copyFile(t, keyA, keyFile)
	b := startBridge(t, func(c *config.Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })

	served := func() []byte {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(readFile(t, certA))
		pool.AppendCertsFromPEM(readFile(t, certB))
		c, err := tls.Dial("tcp", b.addr, &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Raw
	}
	rawA := served()
	copyFile(t, certB, certFile+".new")
	copyFile(t, keyB, keyFile+".new")
	if err := os.Rename(keyFile+".new", keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(certFile+".new", certFile); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	testkit.Eventually(t, 10*time.Second, func() bool { return !bytes.Equal(served(), rawA) },
		"a new handshake still got the old certificate after the files changed")
	t.Logf("new certificate served after %s", time.Since(changed))
	rawB := served()

	// A key that does not match: the bridge keeps serving B.
	copyFile(t, keyA, keyFile)
	testkit.Eventually(t, 10*time.Second, func() bool { return strings.Contains(b.stderr.String(), "keeping the previous certificate") },
		"no error logged for a mismatched pair:\n%s", b.stderr)
	if !bytes.Equal(served(), rawB) {
		t.Error("a broken pair replaced the last good certificate")
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, readFile(t, from), 0o600); err != nil {
		t.Fatal(err)
	}
}
