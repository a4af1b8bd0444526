package logdir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPartitionMetadata(t *testing.T) {
	const id = "q3Zb0Qx6Ts2kPSJ3AAm0ow"
	tests := []struct {
		name    string
		content *string // nil: no file
		want    string
		bad     string // ErrBadPartitionMetadata with this in the message
	}{
		{"missing", nil, "", ""},
		{"as written", ptr("version: 0\ntopic_id: " + id + "\n"), id, ""},
		{"no trailing newline", ptr("version: 0\ntopic_id: " + id), id, ""},
		{"empty", ptr(""), "", "it is empty"},
		{"garbage", ptr("\x00\xff garbage"), "", `not the two lines`},
		{"id cut short", ptr("version: 0\ntopic_id: q3Zb0Qx6Ts"), "", `topic id "q3Zb0Qx6Ts" is not 16 bytes`},
		{"id not base64", ptr("version: 0\ntopic_id: q3Zb0Qx6Ts2kPSJ3AAm0o!\n"), "", "is not 16 bytes"},
		{"no id", ptr("version: 0\ntopic_id: \n"), "", "is not 16 bytes"},
		{"other version", ptr("version: 1\ntopic_id: " + id + "\n"), "", "not the two lines"},
		{"version only", ptr("version: 0\n"), "", "not the two lines"},
		{"extra line", ptr("version: 0\ntopic_id: " + id + "\nmore\n"), "", "not the two lines"},
		{"crlf", ptr("version: 0\r\ntopic_id: " + id + "\r\n"), "", "not the two lines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != nil {
				if err := os.WriteFile(filepath.Join(dir, PartitionMetadataFile), []byte(*tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadPartitionMetadata(dir)
			switch {
			case tt.content == nil:
				if !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("missing file: %v, want os.ErrNotExist", err)
				}
			case tt.bad != "":
				if !errors.Is(err, ErrBadPartitionMetadata) || !strings.Contains(err.Error(), tt.bad) || !strings.Contains(err.Error(), dir) {
					t.Fatalf("got %q, %v; want ErrBadPartitionMetadata naming the file and %q", got, err, tt.bad)
				}
			case err != nil || got != tt.want:
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	dir := t.TempDir()
	if err := WritePartitionMetadata(dir, id); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadPartitionMetadata(dir); err != nil || got != id {
		t.Fatalf("read back %q, %v", got, err)
	}
}

func ptr(s string) *string { return &s }
