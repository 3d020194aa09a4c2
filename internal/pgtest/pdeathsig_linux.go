package pgtest

import "syscall"

// withParentDeath has the kernel stop the server (SIGQUIT: immediate
// shutdown) if the test binary dies without stopping it, as on a panic or a
// test timeout, so no server outlives its tests.
func withParentDeath(a *syscall.SysProcAttr) *syscall.SysProcAttr {
	a.Pdeathsig = syscall.SIGQUIT
	return a
}
