package redistest

import "syscall"

// procAttr has the kernel kill the server if the test binary dies without
// stopping it (a panic, a test timeout), so no server outlives its tests.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
