package commands

import (
	"errors"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"mk/format"
)

// Offsets and times that users type. Arithmetic on them saturates at the
// ends of int64 instead of wrapping: "the last 2^63 records" is every
// record, a time 10,000 years ago is before the first record, and a
// shift past the end is the end. A wrapped value would silently point to
// the other end of the log.

// addOffset returns a+b, saturated at the ends of int64.
func addOffset(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && s > a:
		return math.MinInt64
	}
	return s
}

// parseOffsetArg reads --offset N or -N. A number beyond int64 saturates
// (-99999999999999999999 is "every record"); -N of the most negative int64
// is, likewise, every record (its negation would wrap to itself).
// fromEnd reports -N; n is then the count, > 0.
func parseOffsetArg(v string) (n int64, fromEnd bool, err error) {
	o, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		err = nil // o is saturated
	}
	if err != nil {
		return 0, false, err
	}
	if o < 0 {
		if o == math.MinInt64 {
			return math.MaxInt64, true, nil
		}
		return -o, true, nil
	}
	return o, false, nil
}

// singleDuration is one number and one unit, the form a too-long
// duration is typed in ("5000000h", "300000d").
var singleDuration = regexp.MustCompile(`^\+?([0-9]+(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h|d|w)$`)

var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond,
	"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour,
}

// durationTooLong reports a duration too long for format.ParseDuration:
// over 146 years for days and weeks, over 292 (what time.Duration holds)
// for the other units. Both reach before 1970.
func durationTooLong(s string) bool {
	m := singleDuration.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	v, _, err := big.ParseFloat(m[1], 10, 128, big.ToNearestEven)
	if err != nil {
		return false
	}
	ns := new(big.Float).Mul(v, new(big.Float).SetInt64(int64(durationUnits[m[2]])))
	return ns.Cmp(new(big.Float).SetInt64(math.MaxInt64/2)) > 0
}

// msAgo reads a duration back from now (1h, 7d) as a time in
// milliseconds. A duration too long to parse reaches before 1970, before
// any record: it saturates at the smallest time.
func msAgo(flag, s string) (int64, error) {
	d, err := format.ParseDuration(s)
	switch {
	case err == nil && d >= 0:
		return time.Now().Add(-d).UnixMilli(), nil
	case err == nil:
		return 0, format.Usagef("%s %q: the duration back from now must not be negative", flag, s)
	case durationTooLong(s):
		return math.MinInt64, nil
	}
	return 0, format.Usagef("%s %q: use a duration such as 90s, 1h or 7d", flag, s)
}

// parseTimeArg reads an RFC 3339 time or a duration back from now, in
// milliseconds since 1970; times before 1970 are negative, which is fine:
// every record is at or after them.
func parseTimeArg(flag, s string) (int64, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UnixMilli(), nil
	}
	ms, err := msAgo(flag, s)
	if err != nil && !strings.HasPrefix(s, "-") {
		return 0, format.Usagef("%s %q: use RFC 3339 (2024-05-01T10:00:00Z) or a duration (1h)", flag, s)
	}
	return ms, err
}
