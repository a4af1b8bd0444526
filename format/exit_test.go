package format

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("x"), ExitFailure},
		{Usagef("unknown flag %q", "--x"), ExitUsage},
		{NotFoundf("topic %q not found", "t"), ExitNotFound},
		{WithExitCode(ExitNotAcknowledged, errors.New("3 of 10 records not acknowledged")), ExitNotAcknowledged},
		{fmt.Errorf("producing: %w", Exitf(ExitUnavailable, "no leader for partition %d", 0)), ExitUnavailable},
		{&ExitError{Code: ExitInterrupted}, ExitInterrupted},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
	if WithExitCode(ExitUsage, nil) != nil {
		t.Errorf("WithExitCode(code, nil) is not nil")
	}
}

func TestExitErrorUnwrap(t *testing.T) {
	cause := errors.New("cause")
	err := Exitf(ExitNotFound, "describe: %w", cause)
	if !errors.Is(err, cause) {
		t.Errorf("ExitError does not unwrap to its cause")
	}
	if err.Error() != "describe: cause" {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestReport(t *testing.T) {
	tests := []struct {
		err    error
		code   int
		stderr string
	}{
		{nil, 0, ""},
		{errors.New("Open /x: permission denied.\nretry"), 1, "mk: open /x: permission denied.; retry\n"},
		{Usagef("missing topic name"), 2, "mk: missing topic name\n"},
		{&ExitError{Code: 3}, 3, ""},
	}
	for _, tt := range tests {
		var b strings.Builder
		if code := Report(&b, tt.err); code != tt.code || b.String() != tt.stderr {
			t.Errorf("Report(%v) = %d, %q; want %d, %q", tt.err, code, b.String(), tt.code, tt.stderr)
		}
	}
}
