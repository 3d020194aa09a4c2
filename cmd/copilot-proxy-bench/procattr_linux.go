package main

import "syscall"

// childAttr has the kernel kill a helper server (redis-server) if the bench
// dies without stopping it, so none outlives the run.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
