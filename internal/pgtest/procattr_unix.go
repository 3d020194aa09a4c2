//go:build unix

package pgtest

import (
	"errors"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/copilot-proxy/copilot-proxy/internal/testproc"
)

// withParentDeath has the kernel stop the server (SIGQUIT: immediate
// shutdown) if the test binary dies without stopping it.
func withParentDeath(a *syscall.SysProcAttr) *syscall.SysProcAttr {
	return testproc.ParentDeath(a, syscall.SIGQUIT)
}

// procAttr says how initdb and postgres run. PostgreSQL refuses to run as
// root, so as root they run as the postgres system user (uid and gid are
// then that user's, for the directory; -1 otherwise).
func procAttr() (attr func() *syscall.SysProcAttr, uid, gid int, err error) {
	if os.Geteuid() != 0 {
		return func() *syscall.SysProcAttr { return withParentDeath(&syscall.SysProcAttr{}) }, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, errors.New("a postgres system user to run the server as (PostgreSQL refuses to run as root, and these tests run as root)")
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, 0, 0, err
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return func() *syscall.SysProcAttr {
		return withParentDeath(&syscall.SysProcAttr{Credential: cred})
	}, uid, gid, nil
}
