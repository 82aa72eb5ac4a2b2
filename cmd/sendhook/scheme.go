package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/internal/senders"
)

// schemeFlags say how sendhook signs: as AudioSpliter (the default), as another
// scheme of a senders file with its options, or as a sender of a senders file.
type schemeFlags struct {
	scheme      string
	event       string
	name        string // -sender
	sendersFile string
	hmac        verify.HMACConfig
}

func (sf *schemeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.scheme, "scheme", verify.SchemeAudioSpliter, "how to sign: "+strings.Join(verify.Schemes(), ", ")+" (a senders file's scheme)")
	fs.StringVar(&sf.event, "event", "", "the event of a scheme that sends it in a header (github, hmac with -hmac-event-header); default job.completed")
	fs.StringVar(&sf.name, "sender", "", "the sender's name in the bridge's senders file: ids in -acked become <sender>:<id>, the message ids the bridge makes; with -senders-file, the sender to sign as")
	fs.StringVar(&sf.sendersFile, "senders-file", "", "a senders file (BRIDGE_SENDERS_FILE): sign as its -sender, with its scheme, options and the first secret of its secret_file, to its path on -url's host")
	fs.StringVar(&sf.hmac.Header, "hmac-header", "", "scheme hmac: the signature header")
	fs.StringVar(&sf.hmac.Algorithm, "hmac-algorithm", "", "scheme hmac: sha256 (default), sha512 or sha1")
	fs.StringVar(&sf.hmac.Encoding, "hmac-encoding", "", "scheme hmac: hex (default) or base64")
	fs.StringVar(&sf.hmac.Prefix, "hmac-prefix", "", "scheme hmac: what comes before the MAC in the header, such as sha256=")
	fs.StringVar(&sf.hmac.DeliveryHeader, "hmac-delivery-header", "", "scheme hmac: the delivery id's header")
	fs.StringVar(&sf.hmac.EventHeader, "hmac-event-header", "", "scheme hmac: the event's header (or -hmac-event-field)")
	fs.StringVar(&sf.hmac.EventField, "hmac-event-field", "", "scheme hmac: the event's top-level body field (or -hmac-event-header)")
}

// fromSendersFile takes the scheme, options, path and secret of -sender from
// -senders-file, when given: the URL's path becomes the sender's unless -url was
// set with a path of its own, and the secret is the first of its secret_file
// unless -secret was given.
func (sf *schemeFlags) fromSendersFile(target *string, urlSet bool, secret *string) error {
	if sf.sendersFile == "" {
		return nil
	}
	if sf.name == "" {
		return errors.New("-senders-file needs -sender, the name of the sender to sign as")
	}
	ss, err := senders.Load(sf.sendersFile)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ss, func(s senders.Sender) bool { return s.Name == sf.name })
	if i < 0 {
		return fmt.Errorf("%s has no sender %q", sf.sendersFile, sf.name)
	}
	s := ss[i]
	sf.scheme, sf.hmac = s.Scheme, s.HMAC
	if *secret == "" {
		*secret = s.Secrets()[0]
	}
	u, err := url.Parse(*target)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if !urlSet || u.Path == "" || u.Path == "/" || u.Path == "/webhooks" {
		u.Path = s.Path
		*target = u.String()
	}
	return nil
}

// sender returns the loadgen signer for the scheme, or nil for AudioSpliter's
// without a sender name (the request prepared once for a load). A body from a
// file is sent as it is; else the scheme's sample.
func (sf *schemeFlags) sender(secret string, body []byte, fromFile bool) (*loadgen.Sender, error) {
	if sf.scheme == verify.SchemeAudioSpliter && sf.name == "" && sf.hmac == (verify.HMACConfig{}) {
		return nil, nil
	}
	opts := verify.Options{HMAC: sf.hmac}
	if sf.scheme == verify.SchemeHMAC {
		if opts.HMAC.Algorithm == "" {
			opts.HMAC.Algorithm = verify.DefaultAlgorithm
		}
		if opts.HMAC.Encoding == "" {
			opts.HMAC.Encoding = verify.DefaultEncoding
		}
	}
	scheme, err := verify.New(sf.scheme, []string{secret}, opts)
	if err != nil {
		return nil, fmt.Errorf("-scheme %s: %w", sf.scheme, err)
	}
	if !fromFile && sf.scheme != verify.SchemeAudioSpliter {
		body = loadgen.SampleBody(scheme)
	}
	return &loadgen.Sender{Scheme: scheme, Secret: secret, Body: body, Event: sf.event, Name: sf.name}, nil
}
