//go:build unix && !linux

package pgtest

import "syscall"

// withParentDeath is a no-op where there is no parent-death signal: a test
// binary that dies without Stop may leave its server running there.
func withParentDeath(a *syscall.SysProcAttr) *syscall.SysProcAttr { return a }
