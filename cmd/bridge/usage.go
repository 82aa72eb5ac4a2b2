package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/senders"
)

// commandsUsage is the part of the help a mistyped argument needs.
const commandsUsage = `usage: bridge [command]

Receives signed webhooks (AudioSpliter's, or several senders' with
BRIDGE_SENDERS_FILE) and publishes each to one broker (NATS JetStream, RabbitMQ or
AWS SQS), answering 200 only once the broker has confirmed it.

Commands:
  (none)        run the bridge
  check         check the configuration, its files and the broker with this
                environment, one line per check, publishing nothing; exit 0, or 2
                when something would stop the bridge or its publishes
  healthcheck   exit 0 when the bridge on this host answers /readyz with 200
  help          print this help and every variable (also -h, --help)
`

// usage prints the commands and every variable with its default and meaning.
func usage(w io.Writer) {
	fmt.Fprint(w, commandsUsage+`
Environment (docs/configuration.md in the repository says more):
`)
	for _, v := range config.Variables() {
		if v.Default != "" {
			fmt.Fprintf(w, "  %s (default %q)\n", v.Name, v.Default)
		} else {
			fmt.Fprintf(w, "  %s\n", v.Name)
		}
		fmt.Fprintf(w, "        %s\n", v.Desc)
	}
	fmt.Fprint(w, sendersUsage+senders.Example)
}

// sendersUsage introduces the senders file; its example follows.
const sendersUsage = `
Several senders (BRIDGE_SENDERS_FILE, instead of BRIDGE_WEBHOOK_SECRET, _SECRET_FILE
and _PATH): each sender has its own path, scheme, secret_file and route. Its
messages have the message id <sender>:<delivery id>, ce-id the delivery id and
ce-source the sender's name. Schemes:
  audiospliter       X-AudioSpliter-Signature, hex HMAC-SHA256 of the body;
                     X-AudioSpliter-Delivery; the body's "event"
  standard-webhooks  webhook-signature, v1,<base64 HMAC-SHA256> of <id>.<timestamp>.<body>;
                     webhook-id; the body's "type"; a timestamp outside tolerance: 401
  github             X-Hub-Signature-256, sha256=<hex HMAC-SHA256> of the body;
                     X-GitHub-Delivery; X-GitHub-Event
  stripe             Stripe-Signature, t=<unix>,v1=<hex HMAC-SHA256> of <t>.<body>;
                     the body's "id" and "type"; a t outside tolerance: 401
  hmac               HMAC of the body in a configured header; delivery id and event
                     from a configured header or body field
A mistake in the file stops the start (exit 2) naming the sender and the field.
Example:

`

// cli dispatches the command line; with no argument it runs the bridge.
func cli(args []string, stdout, stderr io.Writer, runBridge func() int) int {
	if len(args) == 0 {
		return runBridge()
	}
	switch args[0] {
	case "check":
		if len(args) == 1 {
			return checkCommand(stdout)
		}
	case "healthcheck":
		if len(args) == 1 {
			return healthcheck(stderr)
		}
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	// The short form: the mistake stays on screen, above one screenful.
	fmt.Fprintf(stderr, "bridge: unknown argument %q\n\n%s\nbridge -h lists every variable with its default.\n", strings.Join(args, " "), commandsUsage)
	return exitConfig
}
