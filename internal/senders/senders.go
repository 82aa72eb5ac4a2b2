package senders

import (
	"errors"
	"path/filepath"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
)

// maxFile bounds the senders file: a sender is a dozen lines.
const maxFile = 1 << 20

// Sender is one entry of the senders file, checked, with its defaults applied.
type Sender struct {
	Name       string // 1–32 of [a-z0-9-], unique: ce-source and audiospliter-sender
	Path       string // its ingress path, unique
	Scheme     string // one of verify.Schemes()
	SecretFile string // as written by Decode; Load makes a relative one relative to the senders file
	// Tolerance is how far a signed timestamp may be from now: for the
	// timestamped schemes (verify.Timestamped) only, default
	// verify.DefaultTolerance; zero for the others.
	Tolerance   time.Duration
	Route       Route             // default DefaultRoute
	Destination Destination       // per sink, optional
	HMAC        verify.HMACConfig // scheme hmac only, Algorithm and Encoding defaulted
	Line        int               // where its entry begins in the file, for messages

	// Verifier is the sender's scheme with the secrets of SecretFile: set by
	// Load, nil after Decode. On a change of the secret file, pass the file's new
	// secrets to its SetSecrets.
	Verifier verify.Scheme

	secretFileLine int
	secrets        []string // as read by Load
}

// Secrets are the secrets Load read from SecretFile, in service in Verifier at
// start. Nil after Decode.
func (s *Sender) Secrets() []string { return s.secrets }

// Destination overrides the bridge's sink settings for one sender.
type Destination struct {
	RabbitMQExchange string // "": BRIDGE_RABBITMQ_EXCHANGE; else declared as a durable topic exchange
	SQSQueueURL      string // "": BRIDGE_SQS_QUEUE_URL
}

// Options are the sender's settings for package verify.
func (s *Sender) Options() verify.Options {
	return verify.Options{Tolerance: s.Tolerance, HMAC: s.HMAC}
}

// NewScheme builds the sender's verifier from its settings and the secrets of
// its secret file, as written there (a Standard Webhooks secret is decoded
// here). An error names neither the secrets nor their content, only which one
// by position.
func (s *Sender) NewScheme(secrets []string) (verify.Scheme, error) {
	return verify.New(s.Scheme, secrets, s.Options())
}

// Load reads, decodes and checks the senders file at path (BRIDGE_SENDERS_FILE),
// then reads every sender's secret file and builds its Verifier. A secret_file
// that is relative is relative to the senders file's directory, so the pair can
// move together. Every error is an *Error naming the file, the line, the sender
// and the field; none contains a secret.
func Load(path string) ([]Sender, error) {
	data, err := readBounded(path, maxFile)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	senders, err := Decode(data)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.File = path
		}
		return nil, err
	}
	dir := filepath.Dir(path)
	for i := range senders {
		s := &senders[i]
		if !filepath.IsAbs(s.SecretFile) {
			s.SecretFile = filepath.Join(dir, s.SecretFile)
		}
		fail := func(err error) error {
			return &Error{File: path, Line: s.secretFileLine, Sender: label(i, s.Name), Field: "secret_file", Msg: err.Error()}
		}
		secrets, err := ReadSecretFile(s.SecretFile)
		if err != nil {
			return nil, fail(err)
		}
		if s.Verifier, err = s.NewScheme(secrets); err != nil {
			return nil, fail(err)
		}
		s.secrets = secrets
	}
	return senders, nil
}
