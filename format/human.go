package format

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Sizes and durations for people. Decision: tables and JSON carry plain
// integers (bytes, milliseconds) so that scripts can compute with them; the
// forms here appear on stderr (progress lines, summaries) and in messages.
// Parsing accepts both, for flags such as --segment-bytes 64MiB or
// --retention 7d.

// Bytes formats n bytes with IEC units: "512 B", "1.5 KiB", "12 MiB",
// "3.0 GiB". One decimal below 10 units, none above, as ls -h.
func Bytes(n int64) string {
	if n < 0 {
		if n == math.MinInt64 {
			return "-8.0 EiB"
		}
		return "-" + Bytes(-n)
	}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	const units = "KMGTPE"
	v := float64(n) / 1024
	u := 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return scaled(v) + " " + units[u:u+1] + "iB"
}

// Count formats a count with SI suffixes: "999", "1.2k", "45k", "3.4M".
func Count(n int64) string {
	if n < 0 {
		if n == math.MinInt64 {
			return "-9.2E"
		}
		return "-" + Count(-n)
	}
	if n < 1000 {
		return strconv.FormatInt(n, 10)
	}
	const units = "kMGTPE"
	v := float64(n) / 1000
	u := 0
	for v >= 1000 && u < len(units)-1 {
		v /= 1000
		u++
	}
	return scaled(v) + units[u:u+1]
}

// scaled formats v (>= 1) with one decimal below 10 and none above,
// rounding down so that 1023.9 KiB never shows as "1024 KiB".
func scaled(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(math.Floor(v*10)/10, 'f', 1, 64)
	}
	return strconv.FormatFloat(math.Floor(v), 'f', 0, 64)
}

// Duration formats d compactly with at most two units: "850µs", "850ms",
// "3.2s", "4m05s", "2h03m", "3d04h".
func Duration(d time.Duration) string {
	if d < 0 {
		return "-" + Duration(-d)
	}
	switch {
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		return strconv.FormatInt(int64(d/time.Microsecond), 10) + "µs"
	case d < time.Second:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(math.Floor(d.Seconds()*10)/10, 'f', 1, 64) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", d/time.Minute, d%time.Minute/time.Second)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", d/time.Hour, d%time.Hour/time.Minute)
	default:
		return fmt.Sprintf("%dd%02dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	}
}

// byteUnits maps suffixes to multipliers, following dd(1): K, M, G, T (and
// KiB, MiB, ...) are powers of 1024; KB, MB, GB, TB (and kB) powers of 1000.
var byteUnits = map[string]float64{
	"": 1, "B": 1,
	"K": 1 << 10, "KiB": 1 << 10, "k": 1 << 10, "kB": 1e3, "KB": 1e3,
	"M": 1 << 20, "MiB": 1 << 20, "MB": 1e6,
	"G": 1 << 30, "GiB": 1 << 30, "GB": 1e9,
	"T": 1 << 40, "TiB": 1 << 40, "TB": 1e12,
}

// ParseBytes reads a size: a plain number of bytes ("1048576") or a number
// with a unit ("64MiB", "1.5 GiB", "10MB", "512K"; see byteUnits).
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult, ok := byteUnits[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("invalid size %q: want bytes, optionally with a unit such as KiB, MiB, GiB, MB", s)
	}
	if unit == "" || unit == "B" {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid size %q: want a whole number of bytes", s)
		}
		return n, nil
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int64(v * mult), nil
}

// ParseDuration reads a duration as time.ParseDuration does, plus the units
// d (24h) and w (7d): "7d", "1d12h", "1w", "500ms". A bare number is refused
// as ambiguous, except "0".
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "0" {
		return 0, nil
	}
	var days time.Duration
	rest := t
	for {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) || rest[i] != 'd' && rest[i] != 'w' {
			break
		}
		v, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		unit := 24 * time.Hour
		if rest[i] == 'w' {
			unit *= 7
		}
		if v*float64(unit) > math.MaxInt64/2 {
			return 0, fmt.Errorf("invalid duration %q: too long", s)
		}
		days += time.Duration(v * float64(unit))
		rest = rest[i+1:]
	}
	if rest == "" {
		if t == "" {
			return 0, fmt.Errorf("invalid duration %q: want a number with a unit, such as 30s, 15m, 7d", s)
		}
		return days, nil
	}
	d, err := time.ParseDuration(rest)
	if err != nil || strings.HasPrefix(rest, "-") && days > 0 {
		return 0, fmt.Errorf("invalid duration %q: want a number with a unit, such as 30s, 15m, 7d", s)
	}
	return days + d, nil
}
