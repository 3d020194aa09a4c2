//go:build !linux

package redistest

import "syscall"

// procAttr sets nothing where there is no parent-death signal: a test
// binary that dies without Stop may leave its server running there.
func procAttr() *syscall.SysProcAttr { return nil }
