package commands

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestAddOffsetSaturates(t *testing.T) {
	tests := []struct{ a, b, want int64 }{
		{10, 5, 15},
		{10, -50, -40},
		{10, math.MaxInt64, math.MaxInt64},
		{math.MaxInt64, 1, math.MaxInt64},
		{10, math.MinInt64, 10 + math.MinInt64},
		{-10, math.MinInt64, math.MinInt64},
		{math.MinInt64, -1, math.MinInt64},
		{math.MaxInt64, math.MinInt64, -1},
		{0, 0, 0},
	}
	for _, tt := range tests {
		if got := addOffset(tt.a, tt.b); got != tt.want {
			t.Errorf("addOffset(%d, %d) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestParseOffsetArg(t *testing.T) {
	tests := []struct {
		in      string
		n       int64
		fromEnd bool
		err     bool
	}{
		{"0", 0, false, false},
		{"7", 7, false, false},
		{"-10", 10, true, false},
		{"-0", 0, false, false},
		{"-9223372036854775807", math.MaxInt64, true, false},
		{"-9223372036854775808", math.MaxInt64, true, false},  // its negation would wrap to itself
		{"-99999999999999999999", math.MaxInt64, true, false}, // beyond int64: saturates
		{"99999999999999999999", math.MaxInt64, false, false}, // beyond the log: out of range later
		{"9223372036854775807", math.MaxInt64, false, false},
		{"soon", 0, false, true},
		{"1e3", 0, false, true},
		{"", 0, false, true},
	}
	for _, tt := range tests {
		n, fromEnd, err := parseOffsetArg(tt.in)
		if (err != nil) != tt.err || err == nil && (n != tt.n || fromEnd != tt.fromEnd) {
			t.Errorf("parseOffsetArg(%q) = %d, %v, %v; want %d, %v, error %v", tt.in, n, fromEnd, err, tt.n, tt.fromEnd, tt.err)
		}
	}
}

func TestParseTimeArg(t *testing.T) {
	now := time.Now().UnixMilli()
	hour := time.Hour.Milliseconds()
	tests := []struct {
		in       string
		min, max int64  // the result is within [min, max]
		err      string // a substring of the error, "" for none
	}{
		{"2024-05-01T10:00:00Z", 1714557600000, 1714557600000, ""},
		{"1970-01-01T00:00:00Z", 0, 0, ""},
		{"1969-12-31T23:59:59Z", -1000, -1000, ""},
		{"0001-01-01T00:00:00Z", -62135596800000, -62135596800000, ""},
		{"1h", now - hour - 60000, now - hour + 60000, ""},
		{"7d", now - 7*24*hour - 60000, now - 7*24*hour + 60000, ""},
		{"0s", now - 60000, now + 60000, ""},
		{"500000h", now - 500000*hour - 60000, now - 500000*hour + 60000, ""}, // before 1970: negative
		{"5000000h", math.MinInt64, math.MinInt64, ""},                        // too long for a Duration: saturates
		{"99999999999999999999d", math.MinInt64, math.MinInt64, ""},
		{"100000d", math.MinInt64, math.MinInt64, ""}, // format.ParseDuration's limit for days is lower
		{"1000000w", math.MinInt64, math.MinInt64, ""},
		{"1e400s", 0, 0, "use RFC 3339"},
		{"-1h", 0, 0, "must not be negative"},
		{"yesterday", 0, 0, "use RFC 3339"},
		{"", 0, 0, "use RFC 3339"},
	}
	for _, tt := range tests {
		got, err := parseTimeArg("--from-time", tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseTimeArg(%q) = %d, %v; want an error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got < tt.min || got > tt.max {
			t.Errorf("parseTimeArg(%q) = %d, %v; want %d..%d", tt.in, got, err, tt.min, tt.max)
		}
	}
}
