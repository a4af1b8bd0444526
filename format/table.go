package format

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Missing is printed in a table or key-value cell that has no value, as
// kafka-consumer-groups prints "-" for a consumer that has none.
const Missing = "-"

// columnGap separates table columns. Three spaces keep columns apart for the
// eye even when a value contains a single space; awk's default field
// splitting treats any run of spaces as one separator.
const columnGap = "   "

// Table writes rows under headers in mk's plain table style:
//
//	GROUP   TOPIC    PARTITION   CURRENT-OFFSET   LOG-END-OFFSET   LAG
//	billing orders   0           12               12               0
//
// Headers are upper-cased; every column is left-aligned; an empty cell is
// written as "-"; a line break or tab inside a cell is written as \n or \t so
// that one row is always one line. Lines carry no trailing spaces. Rows
// shorter than headers are padded with "-".
func Table(w io.Writer, headers []string, rows [][]string) error {
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders:  tw.BorderNone,
			Symbols:  tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: columnGap, Overwrite: true}),
		tablewriter.WithTrimSpace(tw.Off),
	)
	h := make([]string, len(headers))
	for i, s := range headers {
		h[i] = cell(strings.ToUpper(s))
	}
	t.Header(h)
	for _, row := range rows {
		r := make([]string, len(headers))
		for i := range r {
			if i < len(row) {
				r[i] = cell(row[i])
			} else {
				r[i] = Missing
			}
		}
		if err := t.Append(r); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	_, err := w.Write(trimLines(buf.Bytes()))
	return err
}

// cell makes s one table cell: "-" when empty, line breaks and tabs escaped.
func cell(s string) string {
	if s == "" {
		return Missing
	}
	if strings.ContainsAny(s, "\n\r\t") {
		s = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
	}
	return s
}

// trimLines removes trailing spaces from every line of b, in place.
func trimLines(b []byte) []byte {
	out := b[:0]
	for len(b) > 0 {
		line, rest, found := bytes.Cut(b, []byte{'\n'})
		out = append(out, bytes.TrimRight(line, " ")...)
		if found {
			out = append(out, '\n')
		}
		b = rest
	}
	return out
}

// KeyValues writes a describe header block, one aligned "Key: value" line per
// pair, an empty value written as "-":
//
//	Topic:               orders
//	Partitions:          3
//	Replication-Factor:  2
//
// A line break or tab inside a value is escaped as in Table. The block is
// easy to read and to pick apart: awk -F': +' '$1=="Partitions"{print $2}'.
func KeyValues(w io.Writer, pairs [][2]string) error {
	width := 0
	for _, p := range pairs {
		width = max(width, len(p[0]))
	}
	var b []byte
	for _, p := range pairs {
		b = append(b, p[0]...)
		b = append(b, ':')
		b = append(b, strings.Repeat(" ", width-len(p[0])+2)...)
		b = append(b, cell(p[1])...)
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return err
}

// Int formats n as a plain decimal integer for a table cell.
func Int(n int64) string { return strconv.FormatInt(n, 10) }

// IntOrMissing formats n as Int does, or returns "-" when n is negative
// (Kafka's -1 for "unknown": no committed offset, no leader).
func IntOrMissing(n int64) string {
	if n < 0 {
		return Missing
	}
	return Int(n)
}

// JSON writes v as one JSON document for -o json: two-space indent, a
// trailing newline, and <, > and & left as they are (the output is for
// scripts, not for HTML).
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
