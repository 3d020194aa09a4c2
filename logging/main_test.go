package logging

import (
	"testing"

	"go.uber.org/goleak"
)

// The Buffer's flush timer runs its callback on a goroutine: none may
// outlive the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
