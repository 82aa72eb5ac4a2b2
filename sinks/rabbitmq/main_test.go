package rabbitmq_test

import (
	"os"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	rabbittest.Stop()
	os.Exit(code)
}
