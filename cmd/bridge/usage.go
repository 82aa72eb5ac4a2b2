package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// variable is one BRIDGE_* variable as the binary knows it, taken from Config's tags
// so that help, the unknown-variable warning and the docs check cannot drift apart.
type variable struct {
	name, def, desc string
}

// variablesFormat lists Config's variables one per line, tab-separated. The nested
// structs (BRIDGE_RABBITMQ, …) are only prefixes, not variables: they are skipped.
const variablesFormat = "{{range .}}{{if ne .Field.Kind.String \"struct\"}}" +
	"{{usage_key .}}\t{{usage_default .}}\t{{usage_description .}}\n{{end}}{{end}}"

// variables returns every variable Config reads, in declaration order.
func variables() []variable {
	var buf bytes.Buffer
	if err := envconfig.Usagef("BRIDGE", &Config{}, &buf, variablesFormat); err != nil {
		// Config is a literal type: a failure here is a programming error that every
		// test of this package would show.
		panic("bridge: listing the configuration variables: " + err.Error())
	}
	var vars []variable
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 3)
		if len(f) == 3 {
			vars = append(vars, variable{name: f[0], def: f[1], desc: f[2]})
		}
	}
	return vars
}

// commandsUsage is the part of the help a mistyped argument needs.
const commandsUsage = `usage: bridge [command]

Receives signed AudioSpliter webhooks and publishes each to one broker (NATS
JetStream, RabbitMQ or AWS SQS), answering 200 only once the broker has confirmed it.

Commands:
  (none)        run the bridge
  healthcheck   exit 0 when the bridge on this host answers /readyz with 200
  help          print this help and every variable (also -h, --help)
`

// usage prints the commands and every variable with its default and meaning.
func usage(w io.Writer) {
	fmt.Fprint(w, commandsUsage+`
Environment (docs/configuration.md in the repository says more):
`)
	for _, v := range variables() {
		if v.def != "" {
			fmt.Fprintf(w, "  %s (default %q)\n", v.name, v.def)
		} else {
			fmt.Fprintf(w, "  %s\n", v.name)
		}
		fmt.Fprintf(w, "        %s\n", v.desc)
	}
}

// cli dispatches the command line; with no argument it runs the bridge.
func cli(args []string, stdout, stderr io.Writer, runBridge func() int) int {
	if len(args) == 0 {
		return runBridge()
	}
	switch args[0] {
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
