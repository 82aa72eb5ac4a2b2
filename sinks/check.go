package sinks

// CheckResult is one line of `bridge check`: one thing about the broker that the
// bridge needs, checked with the bridge's own configuration, without publishing or
// changing anything. Each sink package has a Check(ctx, Config) []CheckResult.
type CheckResult struct {
	// Name says what was checked: "connect nats://n1:4222", "stream AUDIOSPLITER".
	Name string
	// Detail says what was found, for a check that passed or was skipped.
	Detail string
	// Err says why the check failed (a *ConfigError names the Config field at
	// fault); nil: it passed.
	Err error
	// Skipped: the broker cannot tell without publishing or changing something;
	// Detail says why. Not a failure.
	Skipped bool
	// Warning: something is wrong (Err says what) that does not stop the bridge,
	// such as one node of a cluster away while another answers. Not a failure.
	Warning bool
}

// Warned is a check that found something wrong that the bridge runs with.
func Warned(name string, err error) CheckResult {
	return CheckResult{Name: name, Err: err, Warning: true}
}

// Passed is a check that passed.
func Passed(name, detail string) CheckResult { return CheckResult{Name: name, Detail: detail} }

// Failed is a check that failed.
func Failed(name string, err error) CheckResult { return CheckResult{Name: name, Err: err} }

// Skipped is a check the broker cannot answer without a change.
func Skipped(name, why string) CheckResult {
	return CheckResult{Name: name, Detail: why, Skipped: true}
}
