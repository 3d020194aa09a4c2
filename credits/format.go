package credits

import (
	"errors"
	"strconv"
	"strings"
)

// Format writes nano-credits as a decimal number of credits with no
// trailing zeros: 12_500_000 → "0.0125", 3e9 → "3". Exact: no float.
func Format(nano int64) string {
	neg := nano < 0
	u := uint64(nano)
	if neg {
		u = -u
	}
	whole, frac := u/Nano, u%Nano
	s := strconv.FormatUint(whole, 10)
	if frac != 0 {
		f := strconv.FormatUint(frac+Nano, 10)[1:] // zero-padded to 9 digits
		s += "." + strings.TrimRight(f, "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Parse reads a number of credits as a person writes it ("50", "12.5") into
// nano-credits; it must be non-negative and at most 9 decimals.
func Parse(s string) (int64, error) {
	n, ok := Decimal(s, Nano)
	if !ok {
		return 0, errors.New("credits must be a non-negative number such as 50 or 12.5")
	}
	if back, _ := Decimal(Format(n), Nano); back != n || strings.Count(fracPart(s), "") > 10 {
		return 0, errors.New("credits have at most 9 decimals")
	}
	return n, nil
}

func fracPart(s string) string {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return strings.TrimRight(s[i+1:], "0")
	}
	return ""
}

// Amount is nano-credits that marshal to JSON as a number of credits with
// exact decimals (0.0125, not 0.012499999).
type Amount int64

// MarshalJSON writes the amount in credits.
func (a Amount) MarshalJSON() ([]byte, error) { return []byte(Format(int64(a))), nil }

// UnmarshalJSON reads a number of credits.
func (a *Amount) UnmarshalJSON(b []byte) error {
	n, err := Parse(string(b))
	if err != nil {
		return err
	}
	*a = Amount(n)
	return nil
}

// String writes the amount in credits (flag.Value).
func (a *Amount) String() string {
	if a == nil {
		return "0"
	}
	return Format(int64(*a))
}

// Set reads a number of credits (flag.Value).
func (a *Amount) Set(s string) error {
	n, err := Parse(s)
	if err != nil {
		return err
	}
	*a = Amount(n)
	return nil
}
