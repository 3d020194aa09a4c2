//go:build unix

package pgtest

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// processExists reports whether process pid still exists (signal 0 finds
// it), with what the probe said.
func processExists(pid int) (bool, error) {
	err := syscall.Kill(pid, 0)
	return !errors.Is(err, syscall.ESRCH), err
}

// processOwner is the user id process pid runs as (its /proc entry's
// owner; Linux).
func processOwner(pid int) (uint32, error) {
	st, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	if err != nil {
		return 0, err
	}
	return st.Sys().(*syscall.Stat_t).Uid, nil
}
