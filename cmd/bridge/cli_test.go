package main

import (
	"bytes"
	"testing"
)

// The command's tests that need no process of their own; test/ runs the built
// binary for -h, exit statuses, signals and the environment.

func TestNoArgumentRunsTheBridge(t *testing.T) {
	t.Parallel()
	ran := false
	if code := cli(nil, &bytes.Buffer{}, &bytes.Buffer{}, func() int { ran = true; return 7 }); code != 7 || !ran {
		t.Fatalf("bridge with no argument: ran=%v code=%d, want the bridge's own status", ran, code)
	}
}

// Help and mistakes never run the bridge.
func TestArgumentsDoNotRunTheBridge(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"help"}, {"--verbose"}, {"healthcheck", "now"}} {
		var stdout, stderr bytes.Buffer
		cli(args, &stdout, &stderr, func() int { t.Fatalf("bridge %v ran the bridge", args); return 0 })
	}
}
