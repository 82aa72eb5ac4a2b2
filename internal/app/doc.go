// Package app is the whole bridge as a function: Run(ctx, Options) serves until ctx
// ends, so that the command and the tests run the same thing.
//
// Run, in order: checks the HTTPS pair, sets up tracing from the OTEL_* lookup,
// binds the listener (before the broker: a taken port fails fast), connects the sink
// (bounded by 15 s), builds the bridge (bridge.New) with its metrics, starts the
// reloader (secret file and TLS pair, polled and on Options.Reload), and serves
// behind the connection limiter with the server limits. When ctx ends it drains for
// BRIDGE_SHUTDOWN_TIMEOUT, closes the sink (never past the drain's deadline + 0.5 s)
// and flushes traces. It reads no environment and installs no signal handler: the
// command does both and passes their results in. An error that is the
// configuration's fault is a *config.Error; a stop during start-up is no error.
package app
