//go:build !linux

package testproc

import "syscall"

// ParentDeath returns a unchanged where there is no parent-death signal: a
// process that dies without stopping its server may leave it running there.
func ParentDeath(a *syscall.SysProcAttr, _ syscall.Signal) *syscall.SysProcAttr { return a }
