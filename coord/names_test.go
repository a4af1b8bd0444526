package coord

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestFileName(t *testing.T) {
	long := strings.Repeat("t", 249)
	tests := []struct{ name, suffix, want string }{
		{"orders-0", ".lock", "orders-0.lock"},
		{"mk-0a1b2c", "", "mk-0a1b2c"},
		{"../../x", ".lock", "..%2F..%2Fx.lock"},
		{".", "", "%2E"},
		{"..", "", "%2E%2E"},
		{"a b%~", ".json", "a%20b%25%7E.json"},
		{long + "-12", ".json", long[:233] + "~" + "HASH" + ".json"},
	}
	for _, tt := range tests {
		got := fileName(tt.name, tt.suffix)
		if strings.Contains(tt.want, "HASH") {
			if len(got) != NameMax || !strings.HasPrefix(got, tt.want[:233]) || got[233] != '~' || !strings.HasSuffix(got, tt.suffix) {
				t.Errorf("fileName(%.20q..., %q) = %q: want a 255-byte prefix~hash%s", tt.name, tt.suffix, got, tt.suffix)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("fileName(%q, %q) = %q, want %q", tt.name, tt.suffix, got, tt.want)
		}
	}
	// A name that fits exactly is kept; one byte more is shortened.
	if got := fileName(long+"-12345", ""); got != long+"-12345" {
		t.Errorf("a 255-byte name was changed: %q", got)
	}
	if got := fileName(long+"-123456", ""); len(got) != NameMax || !strings.Contains(got, "~") {
		t.Errorf("a 256-byte name: %q", got)
	}
	// Owner files: .lock and .json of one partition share their stem.
	a, b := fileName(long+"-7", ".lock"), fileName(long+"-7", ".json")
	if strings.TrimSuffix(a, ".lock") != strings.TrimSuffix(b, ".json") {
		t.Errorf("stems differ: %q %q", a, b)
	}
	// Distinct names, distinct files.
	if fileName(long+"-1", ".json") == fileName(long+"-2", ".json") {
		t.Error("two partitions of a long topic share a file name")
	}
}

// Whatever the bytes, the name fits, is one path element, and no escape
// is cut in half.
func TestFileNameAnyBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		b := make([]byte, r.IntN(400))
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		got := fileName(string(b), ".lock")
		if len(got) > NameMax || strings.ContainsAny(got, "/\x00") || got == "." || got == ".." {
			t.Fatalf("fileName(%q) = %q", b, got)
		}
		stem := strings.TrimSuffix(got, ".lock")
		if i := strings.IndexByte(stem, '~'); i >= 0 {
			stem = stem[:i]
		}
		for k := 0; k < len(stem); k++ {
			if stem[k] == '%' && k+2 >= len(stem) {
				t.Fatalf("an escape cut in half: %q", got)
			}
		}
	}
}
