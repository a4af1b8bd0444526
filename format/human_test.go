package format

import (
	"math"
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{10 * 1024, "10 KiB"}, {1048575, "1023 KiB"}, {1 << 20, "1.0 MiB"},
		{1288490188, "1.1 GiB"}, {-2048, "-2.0 KiB"}, {math.MaxInt64, "8.0 EiB"}, {math.MinInt64, "-8.0 EiB"},
	}
	for _, tt := range tests {
		if got := Bytes(tt.n); got != tt.want {
			t.Errorf("Bytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestCount(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1.0k"}, {1999, "1.9k"}, {45000, "45k"}, {3400000, "3.4M"}, {-1500, "-1.5k"}}
	for _, tt := range tests {
		if got := Count(tt.n); got != tt.want {
			t.Errorf("Count(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0ns"}, {850 * time.Microsecond, "850µs"}, {850 * time.Millisecond, "850ms"},
		{3250 * time.Millisecond, "3.2s"}, {4*time.Minute + 5*time.Second, "4m05s"},
		{2*time.Hour + 3*time.Minute, "2h03m"}, {76 * time.Hour, "3d04h"}, {-time.Second, "-1.0s"},
	}
	for _, tt := range tests {
		if got := Duration(tt.d); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"1048576", 1 << 20}, {"512B", 512}, {"64MiB", 64 << 20}, {"64M", 64 << 20},
		{"1.5 GiB", 3 << 29}, {"10MB", 10e6}, {"4k", 4096}, {"4kB", 4000}, {" 2TiB ", 2 << 40},
	}
	for _, tt := range good {
		if got, err := ParseBytes(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5", "12 parsecs", "-1", "1e3", "99999999999TiB"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", in)
		}
	}
}

func TestParseDuration(t *testing.T) {
	good := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0}, {"500ms", 500 * time.Millisecond}, {"7d", 7 * 24 * time.Hour}, {"1w", 7 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour}, {"1.5d", 36 * time.Hour}, {"90m", 90 * time.Minute},
	}
	for _, tt := range good {
		if got, err := ParseDuration(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "30", "d", "7x", "1d-5h", "100000000w"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", in)
		}
	}
}
