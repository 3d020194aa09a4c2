package keys

import (
	"errors"
	"testing"
	"time"
)

func TestParseExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"30d", now.Add(30 * 24 * time.Hour), false},
		{"12h", now.Add(12 * time.Hour), false},
		{"90m", now.Add(90 * time.Minute), false},
		{"2w", now.Add(14 * 24 * time.Hour), false},
		{"1w2d", now.Add(9 * 24 * time.Hour), false},
		{"1d12h", now.Add(36 * time.Hour), false},
		{"1h30m", now.Add(90 * time.Minute), false},
		{"1.5h", now.Add(90 * time.Minute), false},
		{"2027-01-31", time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC), false}, // start of day, UTC
		{"2027-01-31T18:00:00+01:00", time.Date(2027, 1, 31, 17, 0, 0, 0, time.UTC), false},
		{"2026-03-14T12:00:01Z", now.Add(time.Second), false},
		{"", time.Time{}, true},
		{"0", time.Time{}, true},  // not in the future
		{"0d", time.Time{}, true}, // not in the future
		{"-1d", time.Time{}, true},
		{"-5h", time.Time{}, true},
		{"30", time.Time{}, true},
		{"d", time.Time{}, true},
		{"30x", time.Time{}, true},
		{"30 d", time.Time{}, true},
		{"1y", time.Time{}, true},
		{"2026-03-14", time.Time{}, true}, // today 00:00 is past
		{"2020-01-01", time.Time{}, true},
		{"2027-02-30", time.Time{}, true},
		{"31/01/2027", time.Time{}, true},
		{"99999999999w", time.Time{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseExpiry(tc.in, now)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("ParseExpiry(%q) = %v, %v; want ErrInvalid", tc.in, got, err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("ParseExpiry(%q) = %v, %v; want %v UTC", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"0", 0, false},
		{"0s", 0, false},
		{"24h", 24 * time.Hour, false},
		{"7d", 7 * 24 * time.Hour, false},
		{"1w", 7 * 24 * time.Hour, false},
		{"1w1d1h1m1s", 8*24*time.Hour + time.Hour + time.Minute + time.Second, false},
		{"500ms", 500 * time.Millisecond, false},
		{"", 0, true},
		{"-1h", 0, true},
		{"1d-1h", 0, true},
		{"1dd", 0, true},
		{"h", 0, true},
		{"1.5d", 0, true},
		{"100000000w", 0, true}, // overflows
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDuration(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("ParseDuration(%q) = %v, %v; want ErrInvalid", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.FixedZone("X", 3600))
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"7d", now.Add(-7 * 24 * time.Hour), false},
		{"24h", now.Add(-24 * time.Hour), false},
		{"2w", now.Add(-14 * 24 * time.Hour), false},
		{"0", now, false},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), false},
		{"2026-03-01T10:00:00+02:00", time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), false},
		{"", time.Time{}, true},
		{"-7d", time.Time{}, true},
		{"seven days", time.Time{}, true},
		{"2026-13-01", time.Time{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSince(tc.in, now)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("ParseSince(%q) = %v, %v; want ErrInvalid", tc.in, got, err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("ParseSince(%q) = %v, %v; want %v UTC", tc.in, got, err, tc.want)
			}
		})
	}
}
