package credits

import (
	"fmt"
	"time"
)

// Period is the span a budget counts spend over: a calendar day, an ISO
// week (from Monday) or a month, in UTC.
type Period string

// The budget periods.
const (
	Day   Period = "day"
	Week  Period = "week"
	Month Period = "month"
)

// ParsePeriod reads "day", "week" or "month"; "" is Month, the default.
func ParsePeriod(s string) (Period, error) {
	switch Period(s) {
	case "", Month:
		return Month, nil
	case Day, Week:
		return Period(s), nil
	}
	return "", fmt.Errorf("budget period must be day, week or month, not %q", s)
}

// Bounds is the period holding t: [start, end), both at 00:00 UTC. For
// Month, reset is the account's next quota reset date when known (zero:
// calendar months): the period then runs from one month before a reset to
// that reset, as Copilot's own monthly allowance does.
func (p Period) Bounds(t, reset time.Time) (start, end time.Time) {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch p {
	case Day:
		return day, day.AddDate(0, 0, 1)
	case Week:
		start = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)) // back to Monday
		return start, start.AddDate(0, 0, 7)
	}
	if reset.IsZero() {
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
	r := reset.UTC()
	end = time.Date(r.Year(), r.Month(), r.Day(), 0, 0, 0, 0, time.UTC)
	for !end.After(t) { // a reset date already past: the next ones
		end = end.AddDate(0, 1, 0)
	}
	for start = end.AddDate(0, -1, 0); start.After(t); start = start.AddDate(0, -1, 0) {
		end = start // a reset date far ahead: the month holding t
	}
	return start, end
}
