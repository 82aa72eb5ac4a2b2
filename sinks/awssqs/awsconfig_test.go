package awssqs_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// The sink takes region and credentials from the SDK's default chain and nothing
// of its own. These tests point the chain at files and services made for the test
// and check, from the signature on the requests that reach the SQS server, which
// identity and region were used.

// noAWSEnv clears what sqstest.Env and the machine may have set, so that only what
// a test sets is in the chain. Files default to paths that do not exist.
func noAWSEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
		"AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_STS"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // no instance here: fail fast, not after timeouts
}

// signatures records the credential scope (key id/date/region/service) of every
// request the sink makes.
type signatures struct {
	mu     sync.Mutex
	scopes []string
	tokens []string
}

func (s *signatures) Do(r *http.Request) (*http.Response, error) {
	auth := r.Header.Get("Authorization")
	if _, cred, ok := strings.Cut(auth, "Credential="); ok {
		cred, _, _ = strings.Cut(cred, ",")
		s.mu.Lock()
		s.scopes = append(s.scopes, cred)
		s.tokens = append(s.tokens, r.Header.Get("X-Amz-Security-Token"))
		s.mu.Unlock()
	}
	return http.DefaultClient.Do(r)
}

// assertSigned checks that every request was signed with keyID in region.
func (s *signatures) assertSigned(t *testing.T, keyID, region, token string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.scopes) == 0 {
		t.Fatal("no signed request reached the server")
	}
	for i, scope := range s.scopes {
		parts := strings.Split(scope, "/")
		if len(parts) < 4 || parts[0] != keyID || parts[2] != region || parts[3] != "sqs" {
			t.Errorf("request signed as %q, want key %s in region %s", scope, keyID, region)
		}
		if s.tokens[i] != token {
			t.Errorf("session token %q, want %q", s.tokens[i], token)
		}
	}
}

func publishOne(t *testing.T, s *awssqs.Sink) {
	t.Helper()
	defer s.Close()
	if err := s.Publish(t.Context(), sinktest.NewMessage("chain-1")); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func TestCredentialsFromProfile(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	queueURL := srv.CreateQueue(t, false, nil)
	noAWSEnv(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "config"), "[profile bridge]\nregion = eu-west-3\n")
	write(t, filepath.Join(dir, "credentials"), "[bridge]\naws_access_key_id = AKIAPROFILEBRIDGE\naws_secret_access_key = profile-secret\n")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "bridge")
	sig := &signatures{}
	publishOne(t, openSink(t, srv, queueURL, func(c *awssqs.Config) { c.HTTPClient = sig }))
	// The profile's region, not the default for local endpoints.
	sig.assertSigned(t, "AKIAPROFILEBRIDGE", "eu-west-3", "")
}

func TestCredentialsStaticKeys(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	queueURL := srv.CreateQueue(t, false, nil)
	noAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIASTATICBRIDGE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "static-secret")
	sig := &signatures{}
	// No AWS_REGION: with a local endpoint the bridge's default applies.
	publishOne(t, openSink(t, srv, queueURL, func(c *awssqs.Config) { c.HTTPClient = sig }))
	sig.assertSigned(t, "AKIASTATICBRIDGE", awssqs.DefaultLocalRegion, "")
}

// fakeSTS answers AssumeRoleWithWebIdentity as STS does. STS itself cannot run on
// this machine; what is under test is that the SDK's chain, as the sink loads it,
// reaches web identity and signs with the role's temporary credentials.
func fakeSTS(t *testing.T, wantToken, wantRole string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		if form.Get("Action") != "AssumeRoleWithWebIdentity" || form.Get("WebIdentityToken") != wantToken || form.Get("RoleArn") != wantRole {
			t.Errorf("STS request %v, want AssumeRoleWithWebIdentity with the token file's token and %s", form, wantRole)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>ASIAWEBIDENTITY</AccessKeyId>
      <SecretAccessKey>web-identity-secret</SecretAccessKey>
      <SessionToken>web-identity-session</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/bridge/test</Arn><AssumedRoleId>AROATEST:test</AssumedRoleId></AssumedRoleUser>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// As on EKS: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, no keys. Once with the
// bridge's endpoint setting (instance metadata off), once without it, the SQS
// endpoint then coming from the SDK's own AWS_ENDPOINT_URL_SQS, so that the sink
// takes the path it takes against AWS.
func TestCredentialsFromWebIdentity(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	queueURL := srv.CreateQueue(t, false, nil)
	for _, viaBridgeEndpoint := range []bool{true, false} {
		name := "BRIDGE_SQS_ENDPOINT"
		if !viaBridgeEndpoint {
			name = "no endpoint of ours"
		}
		t.Run(name, func(t *testing.T) {
			noAWSEnv(t)
			const role = "arn:aws:iam::123456789012:role/audiospliter-bridge"
			tokenFile := filepath.Join(t.TempDir(), "token")
			write(t, tokenFile, "eyJ.web-identity-token.sig")
			sts := fakeSTS(t, "eyJ.web-identity-token.sig", role)
			t.Setenv("AWS_ROLE_ARN", role)
			t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile)
			t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
			t.Setenv("AWS_REGION", "eu-central-1")
			sig := &signatures{}
			s := openSink(t, srv, queueURL, func(c *awssqs.Config) {
				c.HTTPClient = sig
				if !viaBridgeEndpoint {
					c.Endpoint = ""
					t.Setenv("AWS_ENDPOINT_URL_SQS", srv.Endpoint())
				}
			})
			publishOne(t, s)
			sig.assertSigned(t, "ASIAWEBIDENTITY", "eu-central-1", "web-identity-session")
		})
	}
}

func TestNoCredentialsIsAStartupError(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	queueURL := srv.CreateQueue(t, false, nil)
	noAWSEnv(t)
	_, err := awssqs.New(t.Context(), awssqs.Config{QueueURL: queueURL, Endpoint: srv.Endpoint()})
	var ce *sinks.ConfigError
	if !errors.As(err, &ce) || ce.Field != "Credentials" || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("New without credentials = %v, want a ConfigError on Credentials saying what to set", err)
	}
	_, err = awssqs.New(t.Context(), awssqs.Config{QueueURL: queueURL})
	if !errors.As(err, &ce) || ce.Field != "Region" {
		t.Fatalf("New against AWS without a region = %v, want a ConfigError on Region", err)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fakeIMDS answers as an EC2 instance metadata service with a role (IMDSv2: a
// session token first). There is no instance here; what is under test is whether
// the chain, as the sink loads it, still asks one.
func fakeIMDS(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var asked atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			_, _ = io.WriteString(w, "imds-session")
		case r.Header.Get("X-Aws-Ec2-Metadata-Token") != "imds-session":
			w.WriteHeader(http.StatusUnauthorized)
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/" || r.URL.Path == "/latest/meta-data/iam/security-credentials":
			_, _ = io.WriteString(w, "bridge-instance-role")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/bridge-instance-role":
			_, _ = io.WriteString(w, `{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAINSTANCEROLE","SecretAccessKey":"instance-secret","Token":"instance-session","Expiration":"2099-01-01T00:00:00Z","LastUpdated":"2026-01-01T00:00:00Z"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &asked
}

// On EC2 the instance's role is the last link of the chain. The sink must leave it
// on when no endpoint of ours is set (the SQS endpoint then comes from the SDK's
// AWS_ENDPOINT_URL_SQS), and only a local endpoint turns it off.
func TestInstanceRoleIsAskedUnlessLocalEndpoint(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	queueURL := srv.CreateQueue(t, false, nil)
	noAWSEnv(t)
	imds, asked := fakeIMDS(t)
	os.Unsetenv("AWS_EC2_METADATA_DISABLED")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
	t.Setenv("AWS_REGION", "eu-north-1")

	t.Setenv("AWS_ENDPOINT_URL_SQS", srv.Endpoint())
	sig := &signatures{}
	publishOne(t, openSink(t, srv, queueURL, func(c *awssqs.Config) { c.Endpoint = ""; c.HTTPClient = sig }))
	sig.assertSigned(t, "ASIAINSTANCEROLE", "eu-north-1", "instance-session")

	before := asked.Load()
	_, err := awssqs.New(t.Context(), awssqs.Config{QueueURL: queueURL, Endpoint: srv.Endpoint()})
	var ce *sinks.ConfigError
	if !errors.As(err, &ce) || ce.Field != "Credentials" {
		t.Errorf("with a local endpoint and only an instance role: %v, want no credentials (instance metadata off)", err)
	}
	if n := asked.Load() - before; n != 0 {
		t.Errorf("the instance metadata service was asked %d times with a local endpoint", n)
	}
}
