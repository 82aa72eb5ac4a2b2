//go:build !unix

package rabbittest

import "syscall"

func detached() *syscall.SysProcAttr { return nil }
