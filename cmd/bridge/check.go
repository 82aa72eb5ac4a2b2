package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/audiospliter/audiospliter-bridge/internal/check"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
)

// checkCommand is `bridge check`: internal/check with this process's environment.
func checkCommand(stdout io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var warnings []string
	for _, u := range unknownVariables(os.Environ()) {
		w := u.name + " is not a variable the bridge reads; it is ignored"
		if u.closest != "" {
			w += "; did you mean " + u.closest + "?"
		}
		warnings = append(warnings, w)
	}
	return check.Run(ctx, stdout, check.Options{Load: config.Load, Warnings: warnings})
}
