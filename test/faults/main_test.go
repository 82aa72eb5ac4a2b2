// Package faults tests the whole bridge (bridge.New over loopback HTTP, in this
// process) in front of each broker while the broker or the network fails: the fault
// driver of internal/bridgetest run for every sink (TestFaults), clusters with nodes
// killed under load, and the faults only one broker has. The tests here do not run
// in parallel: they time answers against the publish timeout, and several stop,
// block or disconnect the broker they run on.
package faults

import (
	"os"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	rabbittest.Stop()    // the private node, if a case started it
	sqstest.StopShared() // the shared local SQS server, if a test started it
	os.Exit(code)
}
