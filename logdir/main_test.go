package logdir

import (
	"os"
	"testing"
)

// TestMain lets the test binary play a child appender: the process tests
// re-execute it with MK_LOGDIR_CHILD set (see process_test.go), so that
// several real OS processes append to one partition at once and can be
// SIGKILLed in the middle of an append.
func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}
