package version

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	if got := String(); got == "" || strings.ContainsAny(got, " \n") {
		t.Fatalf("String() = %q, want a non-empty single word", got)
	}
	old := stamp
	stamp = "v1.2.3"
	defer func() { stamp = old }()
	if got := String(); got != "v1.2.3" {
		t.Fatalf("String() with a stamp = %q, want v1.2.3", got)
	}
}
