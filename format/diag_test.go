package format

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"ends with a period.", "ends with a period"},
		{"ends with dots...", "ends with dots..."},
		{"  spaced  ", "spaced"},
		{"first\nsecond", "first; second"},
		{"first\r\n\r\n  second\n", "first; second"},
		{"cause:\n  detail", "cause: detail"},
		{"a;\nb", "a; b"},
		{"tab\there", "tab here"},
		{"esc \x1b[31mred", `esc \x1b[31mred`},
		{"bell\a nul\x00", `bell\x07 nul\x00`},
		{"bad utf8 \xff", `bad utf8 \xff`},
		{"c1 \u0085 control", `c1 \xc2\x85 control`},
		{"héllo wörld.", "héllo wörld"},
	}
	for _, tt := range tests {
		if got := OneLine(tt.in); got != tt.want {
			t.Errorf("OneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLowerFirst(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Invalid topic", "invalid topic"},
		{"invalid topic", "invalid topic"},
		{"EOF", "EOF"},
		{"ISR shrank", "ISR shrank"},
		{"I/O error", "I/O error"},
		{"V2 format", "V2 format"},
		{"A topic", "a topic"},
		{"I think", "I think"},
		{"Open: no such file", "open: no such file"},
		{"ÉTÉ", "ÉTÉ"},
		{"Été", "été"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := LowerFirst(tt.in); got != tt.want {
			t.Errorf("LowerFirst(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMessage(t *testing.T) {
	err := fmt.Errorf("Reading segment: %w", errors.Join(errors.New("first."), fs.ErrNotExist))
	if got, want := Message(err), "reading segment: first.; file does not exist"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if Message(nil) != "" {
		t.Errorf("Message(nil) is not empty")
	}
}

func TestDiagnostics(t *testing.T) {
	var b strings.Builder
	Errorf(&b, "topic %q: %s", "orders", "no such topic.")
	Warnf(&b, "partition %d has no leader\n", 2)
	Infof(&b, "created topic %s", "orders")
	Errorf(&b, "%s", "mk: already prefixed")
	want := `mk: topic "orders": no such topic
mk: warning: partition 2 has no leader
mk: created topic orders
mk: already prefixed
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
