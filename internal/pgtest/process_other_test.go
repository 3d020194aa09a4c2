//go:build !unix

package pgtest

import (
	"errors"
	"os"
)

// processExists reports whether process pid still exists: on these systems
// finding a process fails once it is gone.
func processExists(pid int) (bool, error) {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false, err
	}
	return true, p.Release()
}

// processOwner is not known on these systems (no root to run as either:
// os.Geteuid is -1, so the caller never asks).
func processOwner(int) (uint32, error) {
	return 0, errors.ErrUnsupported
}
