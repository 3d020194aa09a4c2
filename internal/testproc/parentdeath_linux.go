package testproc

import "syscall"

// ParentDeath has the kernel send sig to the child started with a (nil:
// new attributes) if this process dies without stopping it (a panic, a
// test timeout), so no server outlives its tests.
func ParentDeath(a *syscall.SysProcAttr, sig syscall.Signal) *syscall.SysProcAttr {
	if a == nil {
		a = &syscall.SysProcAttr{}
	}
	a.Pdeathsig = sig
	return a
}
