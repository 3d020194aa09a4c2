//go:build !unix

package pgtest

import "syscall"

// procAttr runs initdb and postgres as this process's user.
func procAttr() (attr func() *syscall.SysProcAttr, uid, gid int, err error) {
	return func() *syscall.SysProcAttr { return nil }, -1, -1, nil
}
