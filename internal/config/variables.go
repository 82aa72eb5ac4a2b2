package config

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// Variable is one BRIDGE_* variable as the bridge knows it, taken from Config's tags
// so that help, the unknown-variable warning and the docs check cannot drift apart.
type Variable struct {
	Name, Default, Desc string
}

// variablesFormat lists Config's variables one per line, tab-separated. The nested
// structs (BRIDGE_RABBITMQ, …) are only prefixes, not variables: they are skipped.
const variablesFormat = "{{range .}}{{if ne .Field.Kind.String \"struct\"}}" +
	"{{usage_key .}}\t{{usage_default .}}\t{{usage_description .}}\n{{end}}{{end}}"

// Variables returns every variable Config reads, in declaration order.
func Variables() []Variable {
	var buf bytes.Buffer
	if err := envconfig.Usagef(Prefix, &Config{}, &buf, variablesFormat); err != nil {
		// Config is a literal type: a failure here is a programming error that every
		// test of this package would show.
		panic("config: listing the configuration variables: " + err.Error())
	}
	var vars []Variable
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 3)
		if len(f) == 3 {
			vars = append(vars, Variable{Name: f[0], Default: f[1], Desc: f[2]})
		}
	}
	return vars
}

// SinkVariables names the variable behind each field of the configured sink's
// configuration (natsjs.Config, rabbitmq.Config, awssqs.Config), so that a start-up
// error the sink blames on a field (sinks.ConfigError) names what the operator set.
// The URL's variable is the one it came from (the variable or its _FILE).
func (c *Config) SinkVariables() map[string]string {
	vars := c.sinkVariables()
	// A sender's own exchange or queue comes from the senders file.
	if vars != nil {
		vars["SenderExchanges"] = "BRIDGE_SENDERS_FILE"
		vars["SenderQueues"] = "BRIDGE_SENDERS_FILE"
	}
	return vars
}

func (c *Config) sinkVariables() map[string]string {
	switch c.Sink {
	case "nats":
		url := c.natsURLVar
		if url == "" {
			url = "BRIDGE_NATS_URL"
		}
		return map[string]string{
			"URL":                 url,
			"Stream":              "BRIDGE_NATS_STREAM",
			"SubjectPrefix":       "BRIDGE_NATS_SUBJECT_PREFIX",
			"EmbeddedListen":      "BRIDGE_NATS_EMBEDDED_LISTEN",
			"EmbeddedToken":       "BRIDGE_NATS_EMBEDDED_TOKEN",
			"EmbeddedTLSCertFile": "BRIDGE_NATS_EMBEDDED_TLS_CERT_FILE",
			"DataDir":             "BRIDGE_DATA_DIR",
			"TLSCAFile":           "BRIDGE_NATS_TLS_CA_FILE",
			"TLSCertFile":         "BRIDGE_NATS_TLS_CERT_FILE",
			"CredsFile":           "BRIDGE_NATS_CREDS_FILE",
			"NkeyFile":            "BRIDGE_NATS_NKEY_FILE",
			"Replicas":            "BRIDGE_NATS_REPLICAS",
		}
	case "rabbitmq":
		url := c.rabbitURLVar
		if url == "" {
			url = "BRIDGE_RABBITMQ_URL"
		}
		return map[string]string{
			"URL":            url,
			"Exchange":       "BRIDGE_RABBITMQ_EXCHANGE",
			"Queue":          "BRIDGE_RABBITMQ_QUEUE",
			"TLS.CAFile":     "BRIDGE_RABBITMQ_TLS_CA_FILE",
			"TLS.CertFile":   "BRIDGE_RABBITMQ_TLS_CERT_FILE",
			"TLS.KeyFile":    "BRIDGE_RABBITMQ_TLS_KEY_FILE",
			"TLS.ServerName": "BRIDGE_RABBITMQ_TLS_SERVER_NAME",
		}
	case "sqs":
		return map[string]string{
			"QueueURL":    "BRIDGE_SQS_QUEUE_URL",
			"Endpoint":    "BRIDGE_SQS_ENDPOINT",
			"Region":      "AWS_REGION",
			"Credentials": "AWS_ACCESS_KEY_ID",
			"Profile":     "AWS_PROFILE",
		}
	}
	return nil
}
