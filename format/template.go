package format

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/template"
	"time"

	"mk/logdir"
)

// Templates print each record as the user's --format says, with Go's
// text/template over a RecordView:
//
//	mk consume orders --format '{{.Offset}}\t{{.Key}}\t{{.Value}}'
//	mk consume orders --format '{{.Timestamp | rfc3339}} {{.Header "trace-id"}} {{.Value}}'
//
// Rules:
//   - Outside {{ }} actions the escapes \n, \t, \r and \\ are interpreted,
//     because a shell does not put a tab or a newline in a quoted argument.
//     Inside actions Go's own string syntax applies ({{printf "%s\n" .Key}}).
//     Any other backslash is kept as it is.
//   - Each record ends with a newline: one is added unless the template
//     already ends with one, so '{{.Value}}' and '{{.Value}}\n' print the
//     same.
//   - A null key or value prints as the empty string; .KeyNull and
//     .ValueNull tell null from empty. Bytes that are not UTF-8 are printed
//     as they are; use base64, hex or quote to show them safely.
//
// Functions: json (a value as JSON text), base64, hex, quote (a Go-quoted
// string, showing unprintable bytes), unixms (a time as milliseconds since
// the epoch), rfc3339 (a time as 2006-01-02T15:04:05.000Z07:00, UTC).

// RecordView is the value a --format template executes on.
type RecordView struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time // UTC; the zero time for a record without one
	Key       string
	Value     string
	KeyNull   bool
	ValueNull bool
	Headers   []HeaderView // in record order; keys may repeat
}

// HeaderView is one record header in a RecordView.
type HeaderView struct {
	Key   string
	Value string
	Null  bool // the value is null
}

// Header returns the value of the first header named key, or "".
func (v *RecordView) Header(key string) string {
	for _, h := range v.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

// Template is a compiled --format template. It is not safe for concurrent
// use: it reuses one RecordView for every record.
type Template struct {
	t       *template.Template
	newline bool // add "\n" after each record
	view    RecordView
}

var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"base64": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"hex":    func(s string) string { return hex.EncodeToString([]byte(s)) },
	"quote":  strconv.Quote,
	"unixms": func(t time.Time) int64 { return t.UnixMilli() },
	"rfc3339": func(t time.Time) string {
		return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	},
}

// ParseTemplate compiles a --format template.
func ParseTemplate(text string) (*Template, error) {
	text = unescapeTemplate(text)
	t, err := template.New("format").Funcs(templateFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("invalid --format template: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	return &Template{t: t, newline: !strings.HasSuffix(text, "\n")}, nil
}

// unescapeTemplate interprets \n, \t, \r and \\ outside {{ }} actions.
func unescapeTemplate(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		open := strings.Index(s, "{{")
		text := s
		if open >= 0 {
			text = s[:open]
		}
		for i := 0; i < len(text); i++ {
			if text[i] == '\\' && i+1 < len(text) {
				if k := strings.IndexByte(`ntr\`, text[i+1]); k >= 0 {
					b.WriteByte("\n\t\r\\"[k])
					i++
					continue
				}
			}
			b.WriteByte(text[i])
		}
		if open < 0 {
			break
		}
		s = s[open:]
		end := strings.Index(s, "}}")
		if end < 0 {
			b.WriteString(s) // let the template parser report it
			break
		}
		b.WriteString(s[:end+2])
		s = s[end+2:]
	}
	return b.String()
}

// Execute writes r, read from topic and partition, as the template says.
func (t *Template) Execute(w io.Writer, topic string, partition int32, r *logdir.Record) error {
	v := &t.view
	v.Topic = topic
	v.Partition = partition
	v.Offset = r.Offset
	v.Timestamp = time.Time{}
	if r.Timestamp >= 0 {
		v.Timestamp = time.UnixMilli(r.Timestamp).UTC()
	}
	v.Key, v.KeyNull = string(r.Key), r.Key == nil
	v.Value, v.ValueNull = string(r.Value), r.Value == nil
	v.Headers = v.Headers[:0]
	for _, h := range r.Headers {
		v.Headers = append(v.Headers, HeaderView{Key: string(h.Key), Value: string(h.Value), Null: h.Value == nil})
	}
	if err := t.t.Execute(w, v); err != nil {
		return fmt.Errorf("--format template: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	if t.newline {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}
