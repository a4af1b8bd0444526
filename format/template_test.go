package format

import (
	"strings"
	"testing"

	"mk/logdir"
)

func TestTemplate(t *testing.T) {
	rec := logdir.Record{Offset: 42, Timestamp: 1700000000123, Key: []byte("k1"), Value: []byte("héllo"),
		Headers: []logdir.Header{{Key: []byte("trace"), Value: []byte("abc")}, {Key: []byte("n"), Value: nil}}}
	null := logdir.Record{Offset: 1, Timestamp: -1}
	tests := []struct {
		format string
		rec    *logdir.Record
		want   string
	}{
		{`{{.Value}}`, &rec, "héllo\n"},
		{`{{.Value}}\n`, &rec, "héllo\n"},
		{`{{.Topic}}/{{.Partition}}@{{.Offset}}\t{{.Key}}={{.Value}}`, &rec, "orders/2@42\tk1=héllo\n"},
		{`{{.Key}}\r\n`, &rec, "k1\r\n"},
		{`a\\nb {{.Key}}`, &rec, "a\\nb k1\n"},
		{`C:\dir {{.Key}}`, &rec, "C:\\dir k1\n"},
		{`{{printf "%s\t%s" .Key .Value}}`, &rec, "k1\théllo\n"},
		{`{{.Timestamp | unixms}} {{.Timestamp | rfc3339}}`, &rec, "1700000000123 2023-11-14T22:13:20.123Z\n"},
		{`{{.Timestamp.Year}}`, &rec, "2023\n"},
		{`{{.Header "trace"}}|{{.Header "missing"}}`, &rec, "abc|\n"},
		{`{{range .Headers}}{{.Key}}={{.Value}}{{if .Null}}(null){{end}};{{end}}`, &rec, "trace=abc;n=(null);\n"},
		{`{{json .Value}} {{base64 .Key}} {{hex .Key}} {{quote .Value}}`, &rec, `"héllo" azE= 6b31 "héllo"` + "\n"},
		{`[{{.Key}}] {{.KeyNull}} {{.ValueNull}} {{.Timestamp.IsZero}}`, &null, "[] true true true\n"},
	}
	for _, tt := range tests {
		tmpl, err := ParseTemplate(tt.format)
		if err != nil {
			t.Errorf("%s: %v", tt.format, err)
			continue
		}
		var b strings.Builder
		for range 2 { // a template is reused record after record
			b.Reset()
			if err := tmpl.Execute(&b, "orders", 2, tt.rec); err != nil {
				t.Errorf("%s: %v", tt.format, err)
			}
		}
		if b.String() != tt.want {
			t.Errorf("%s: got %q, want %q", tt.format, b.String(), tt.want)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	if _, err := ParseTemplate(`{{.Value`); err == nil || !strings.HasPrefix(err.Error(), "invalid --format template: ") {
		t.Errorf("unclosed action: %v", err)
	}
	if _, err := ParseTemplate(`{{nosuchfunc .Value}}`); err == nil {
		t.Errorf("unknown function accepted")
	}
	tmpl, err := ParseTemplate(`{{.NoSuchField}}`)
	if err != nil {
		t.Fatal(err)
	}
	err = tmpl.Execute(&strings.Builder{}, "t", 0, &logdir.Record{})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "--format template: ") {
		t.Errorf("unknown field: %v", err)
	}
}

func BenchmarkTemplate(b *testing.B) {
	tmpl, err := ParseTemplate(`{{.Offset}}\t{{.Key}}\t{{.Value}}`)
	if err != nil {
		b.Fatal(err)
	}
	rec := logdir.Record{Offset: 42, Timestamp: 1700000000123, Key: []byte("user-42"), Value: []byte(`{"event":"click"}`)}
	var sb strings.Builder
	b.ReportAllocs()
	for b.Loop() {
		sb.Reset()
		tmpl.Execute(&sb, "events", 0, &rec)
	}
}
