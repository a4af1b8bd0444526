package commands

import (
	"github.com/urfave/cli/v2"

	"mk/format"
)

// damage collects the metadata files a list or describe command could not
// read. Such a command prints everything it can read, then names each
// damaged file on stderr (`mk: corrupt metadata file PATH: CAUSE`) and
// exits 1: the output is incomplete, and a script should know it, as ls
// does for an entry it cannot read. A command about one named thing fails
// at once only when that thing's own file is damaged.
type damage struct{ errs []error }

func (d *damage) add(errs ...error) {
	for _, err := range errs {
		if err != nil {
			d.errs = append(d.errs, err)
		}
	}
}

// report names the damaged files and returns the command's error: nil if
// there were none, else exit 1 with nothing more to say.
func (d *damage) report(cc *cli.Context) error {
	for _, err := range d.errs {
		format.Errorf(cc.App.ErrWriter, "%s", format.Message(err))
	}
	if len(d.errs) == 0 {
		return nil
	}
	return &format.ExitError{Code: format.ExitFailure}
}

// warn names the damaged files as warnings, for a command that did all it
// was asked despite them (cluster stop).
func (d *damage) warn(cc *cli.Context) {
	for _, err := range d.errs {
		format.Warnf(cc.App.ErrWriter, "%s", format.Message(err))
	}
}
