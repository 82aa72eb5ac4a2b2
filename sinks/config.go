package sinks

// ConfigError is a start-up failure caused by one configuration field of a sink.
// Field is the name of the field in the sink's Config struct, so the caller can name
// the setting (for example the environment variable) the operator must fix.
type ConfigError struct {
	Field string
	// Also are other fields whose change mends it too (another subject prefix, say,
	// where Field is the stream), for the caller to name beside Field.
	Also []string
	Err  error
}

func (e *ConfigError) Error() string { return e.Err.Error() }

func (e *ConfigError) Unwrap() error { return e.Err }
