package testproc

import (
	"syscall"
	"testing"
)

func TestParentDeath(t *testing.T) {
	t.Parallel()
	if a := ParentDeath(nil, syscall.SIGKILL); a == nil || a.Pdeathsig != syscall.SIGKILL {
		t.Errorf("nil attributes: %+v", a)
	}
	cred := &syscall.Credential{Uid: 7}
	if a := ParentDeath(&syscall.SysProcAttr{Credential: cred}, syscall.SIGQUIT); a.Pdeathsig != syscall.SIGQUIT || a.Credential != cred {
		t.Errorf("kept attributes: %+v", a)
	}
}
