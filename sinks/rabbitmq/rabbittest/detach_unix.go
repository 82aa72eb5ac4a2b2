//go:build unix

package rabbittest

import "syscall"

// detached puts the watcher in a session of its own, out of reach of signals sent
// to the test binary's process group.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
