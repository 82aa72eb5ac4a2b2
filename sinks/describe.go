package sinks

// Describer is implemented by sinks that can name where a message goes, so that the
// bridge's traces say which broker and which destination a publish went to without
// the bridge importing any broker package.
type Describer interface {
	// Describe returns the messaging system as OpenTelemetry names it (rabbitmq,
	// nats, aws_sqs) and the destination msg is published to (exchange, subject,
	// queue name).
	Describe(msg Message) (system, destination string)
}
