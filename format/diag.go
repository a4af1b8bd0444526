package format

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Prefix starts every diagnostic line mk writes.
const Prefix = "mk: "

// Errorf writes one error line to w (normally stderr): "mk: " and the
// formatted text made one line by OneLine. The line is written with a single
// Write so that lines from concurrent goroutines do not interleave.
// Start the format with mk's own words, not with data: "topic %q: ...".
func Errorf(w io.Writer, format string, args ...any) {
	writeDiag(w, Prefix, format, args)
}

// Warnf writes one "mk: warning: " line to w.
func Warnf(w io.Writer, format string, args ...any) {
	writeDiag(w, Prefix+"warning: ", format, args)
}

// Infof writes one "mk: " line to w for a note about the run that is not a
// problem ("created topic orders with 3 partitions"). Commands print notes
// only where a person needs them; a quiet success is the default.
func Infof(w io.Writer, format string, args ...any) {
	writeDiag(w, Prefix, format, args)
}

func writeDiag(w io.Writer, prefix, format string, args []any) {
	msg := OneLine(fmt.Sprintf(format, args...))
	msg = strings.TrimPrefix(msg, Prefix)
	line := make([]byte, 0, len(prefix)+len(msg)+1)
	line = append(line, prefix...)
	line = append(line, msg...)
	line = append(line, '\n')
	w.Write(line) // a diagnostic that cannot be written has nowhere else to go
}

// Message returns err's text as a diagnostic: one line (OneLine) and
// lower-case first, unless the first word is an acronym or identifier
// ("EOF", "ISR", "I/O"). It returns "" for nil.
func Message(err error) string {
	if err == nil {
		return ""
	}
	return LowerFirst(OneLine(err.Error()))
}

// OneLine makes s fit on one diagnostic line: surrounding space is trimmed;
// a line break and the space around it become "; " (or " " after a colon);
// tabs become spaces; other control characters (which could drive a terminal)
// become \xNN escapes; one trailing period is dropped.
func OneLine(s string) string {
	s = strings.TrimSpace(s)
	if isPlainLine(s) {
		return dropPeriod(s)
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c):
			j, broke := i, false
			for ; j < len(s) && isSpace(s[j]); j++ {
				broke = broke || s[j] == '\n' || s[j] == '\r'
			}
			if !broke {
				for k := i; k < j; k++ {
					b.WriteByte(' ') // tabs, vertical tabs, form feeds
				}
			} else if str := b.String(); strings.HasSuffix(str, ":") || strings.HasSuffix(str, ";") {
				b.WriteByte(' ')
			} else {
				b.WriteString("; ")
			}
			i = j
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
			i++
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || r >= 0x80 && r < 0xa0 {
				fmt.Fprintf(&b, `\x%02x`, c)
				i++
				continue
			}
			b.WriteString(s[i : i+size])
			i += size
		default:
			b.WriteByte(c)
			i++
		}
	}
	return dropPeriod(b.String())
}

// isPlainLine reports whether s is printable ASCII with no tabs or breaks.
func isPlainLine(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func dropPeriod(s string) string {
	if strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "..") {
		return s[:len(s)-1]
	}
	return s
}

// LowerFirst lower-cases the first letter of s when the first word is an
// ordinary capitalised word ("Invalid topic" -> "invalid topic"). Words with
// more than one capital or with digits ("EOF", "ISR", "I/O", "V2") and the
// pronoun "I" are left alone.
func LowerFirst(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if !unicode.IsUpper(r) {
		return s
	}
	end := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == ':' || r == ',' })
	if end < 0 {
		end = len(s)
	}
	word := s[size:end]
	if word == "" && r == 'I' {
		return s
	}
	if strings.IndexFunc(word, func(r rune) bool { return !unicode.IsLower(r) }) >= 0 {
		return s
	}
	return string(unicode.ToLower(r)) + s[size:]
}
