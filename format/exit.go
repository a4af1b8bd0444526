package format

import (
	"errors"
	"fmt"
	"io"
)

// Exit codes of the mk binary. The list is fixed and documented in the
// README; scripts test for these numbers, so a number never changes meaning.
// Codes 64-78 (sysexits.h) are deliberately not used: few scripts know them.
const (
	// ExitOK: the command did everything it was asked to do.
	ExitOK = 0
	// ExitFailure: the command failed for a reason not listed below (I/O
	// error, corrupt log, malformed input, internal error).
	ExitFailure = 1
	// ExitUsage: the command line is wrong (unknown flag, missing argument,
	// invalid value). Nothing was done.
	ExitUsage = 2
	// ExitNotAcknowledged: mk produce sent records and some of them were not
	// acknowledged (timeout, leader lost, not enough in-sync replicas). Other
	// records may have been acknowledged; stderr says how many of each.
	ExitNotAcknowledged = 3
	// ExitNotFound: a named thing does not exist: the cluster directory, a
	// topic, a partition, a group, a broker. Lets a script write
	// `mk topic describe t || mk topic create t`.
	ExitNotFound = 4
	// ExitUnavailable: the thing exists but cannot serve now: no live broker,
	// no leader for a partition, no controller. Retrying later may succeed.
	ExitUnavailable = 5
	// ExitInterrupted: the command was stopped by SIGINT or SIGTERM before it
	// finished (128 + SIGINT, the shell convention). A consumer stopped this
	// way has still committed what it printed.
	ExitInterrupted = 130
)

// ExitError is an error that carries the exit code the process should end
// with. It satisfies urfave/cli's ExitCoder.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode returns e.Code.
func (e *ExitError) ExitCode() int { return e.Code }

// WithExitCode returns err carrying the exit code code, or nil if err is nil.
func WithExitCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: code, Err: err}
}

// Exitf returns an error with the exit code code and a message formatted as
// by fmt.Errorf (so %w wraps).
func Exitf(code int, format string, args ...any) error {
	return &ExitError{Code: code, Err: fmt.Errorf(format, args...)}
}

// Usagef returns a usage error (exit code 2).
func Usagef(format string, args ...any) error {
	return Exitf(ExitUsage, format, args...)
}

// NotFoundf returns a not-found error (exit code 4).
func NotFoundf(format string, args ...any) error {
	return Exitf(ExitNotFound, format, args...)
}

// ExitCode returns the exit code for err: ExitOK for nil, the code of the
// outermost error in the chain that has an ExitCode() int method, else
// ExitFailure.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var c interface{ ExitCode() int }
	if errors.As(err, &c) {
		return c.ExitCode()
	}
	return ExitFailure
}

// Report writes err to w as one "mk: " line and returns the exit code for
// it. It writes nothing for nil, or for an ExitError without a message (a
// command that has already reported its failure).
//
//	os.Exit(format.Report(os.Stderr, run(os.Args)))
func Report(w io.Writer, err error) int {
	code := ExitCode(err)
	if err == nil {
		return code
	}
	if e, ok := err.(*ExitError); ok && e.Err == nil {
		return code
	}
	Errorf(w, "%s", Message(err))
	return code
}
