package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/audiospliter/audiospliter-bridge/internal/config"
)

// commandsUsage is the part of the help a mistyped argument needs.
const commandsUsage = `usage: bridge [command]

Receives signed AudioSpliter webhooks and publishes each to one broker (NATS
JetStream, RabbitMQ or AWS SQS), answering 200 only once the broker has confirmed it.

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
}

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
