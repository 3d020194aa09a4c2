// Package bytesize parses and formats byte sizes: the flag and environment
// form ("10MiB", "512KiB", "1MB", "1048576") and the form of messages to
// people ("10 MiB", "1000 bytes"). Size implements flag.Value, so a setting
// such as --max-body is declared with flag.Var.
//
// It imports only the standard library.
package bytesize

import (
	"errors"
	"strconv"
	"strings"
)

// Size is a number of bytes.
type Size int64

// Binary units, the ones String and Human write.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
)

// Max is the largest size Parse accepts. It is well below math.MaxInt64 so
// that a caller adding a little (a header, one byte to detect an overflow)
// to a configured limit cannot wrap around.
const Max Size = 1 << 62

// Errors of Parse and Set. Their texts are shown after the flag or variable
// name ("invalid value "lots" for --max-body: not a size ..."), so they do
// not repeat the input.
var (
	ErrSyntax   = errors.New("not a size (use e.g. 10MiB, 512KiB or a number of bytes)")
	ErrTooLarge = errors.New("size too large")
)

// units are the suffixes Parse accepts, case-insensitively. A suffix must
// come before any suffix it ends with ("kib" before "b"); the bare letters
// k, m and g are binary, as most people who type them mean. "byte" and
// "bytes" make Human's output parse too.
var units = [...]struct {
	suffix string
	mult   Size
}{
	{"kib", KiB}, {"mib", MiB}, {"gib", GiB},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"k", KiB}, {"m", MiB}, {"g", GiB},
	{"bytes", 1}, {"byte", 1}, {"b", 1},
}

// Parse reads a size: a non-negative whole number, optionally followed by a
// unit (KiB, MiB, GiB, KB, MB, GB, K, M, G, B; any case, spaces allowed
// around the number and unit). It fails with ErrSyntax or ErrTooLarge
// (above Max).
func Parse(s string) (Size, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := Size(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && n > 0:
		return 0, ErrTooLarge // a long run of digits is a size, just too big
	case err != nil || n < 0:
		return 0, ErrSyntax
	case Size(n) > Max/mult:
		return 0, ErrTooLarge
	}
	return Size(n) * mult, nil
}

// Set implements flag.Value.
func (s *Size) Set(v string) error {
	n, err := Parse(v)
	if err != nil {
		return err
	}
	*s = n
	return nil
}

// String is the flag form: the largest binary unit that divides the size
// exactly, with no space ("10MiB", "1536KiB", "1000B"), which Parse reads
// back to the same size.
func (s Size) String() string {
	n, unit := s.split()
	if unit == "" {
		unit = "B"
	}
	return strconv.FormatInt(n, 10) + unit
}

// Human is the form of messages to people, such as the 413 answer "request
// body is larger than the 10 MiB limit": like String but with a space and
// words for plain bytes ("10 MiB", "1000 bytes", "1 byte").
func (s Size) Human() string {
	n, unit := s.split()
	switch {
	case unit != "":
		return strconv.FormatInt(n, 10) + " " + unit
	case n == 1:
		return "1 byte"
	default:
		return strconv.FormatInt(n, 10) + " bytes"
	}
}

// split returns the size in the largest binary unit that divides it
// exactly, or in bytes with unit "" when none does (or it is not positive).
func (s Size) split() (int64, string) {
	switch {
	case s > 0 && s%GiB == 0:
		return int64(s / GiB), "GiB"
	case s > 0 && s%MiB == 0:
		return int64(s / MiB), "MiB"
	case s > 0 && s%KiB == 0:
		return int64(s / KiB), "KiB"
	}
	return int64(s), ""
}
