package commands

import (
	"io"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// Every integer flag of every command has a range in intFlagRanges, and
// every numeric flag is of a type checkFlagValues knows: a flag added
// without one fails here rather than take any value a user types.
func TestEveryNumericFlagHasARange(t *testing.T) {
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, c := range cmds {
			name := strings.TrimSpace(path + " " + c.Name)
			for _, f := range c.Flags {
				flag := f.Names()[0]
				switch f.(type) {
				case *cli.IntFlag, *cli.Int64Flag:
					if _, ok := intFlagRanges[flag]; !ok {
						t.Errorf("mk %s --%s: no range in intFlagRanges", name, flag)
					}
				case *cli.DurationFlag:
				default:
					if isNumericFlag(f) {
						t.Errorf("mk %s --%s: a numeric flag type checkFlagValues does not check", name, flag)
					}
				}
			}
			walk(name, c.Subcommands)
		}
	}
	walk("", newApp(Stdio{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}).Commands)
	for name, rf := range intFlagRanges {
		if r := rf(); r.min > r.max {
			t.Errorf("--%s: empty range %d..%d", name, r.min, r.max)
		}
	}
}
