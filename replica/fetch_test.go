package replica

import (
	"testing"

	"mk/logdir"
)

// endOffsetFor answers as Kafka's LeaderEpochFileCache.endOffsetFor.
func TestEndOffsetFor(t *testing.T) {
	es := []logdir.EpochEntry{{Epoch: 1, StartOffset: 10}, {Epoch: 3, StartOffset: 40}, {Epoch: 7, StartOffset: 90}}
	for _, c := range []struct {
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{
		{-1, -1, -1}, // undefined
		{0, 0, 10},   // older than every known epoch: ends where the first starts
		{1, 1, 40},
		{2, 1, 40}, // unknown: the epoch below it, ending where the next starts
		{3, 3, 90},
		{6, 3, 90},
		{7, 7, 120}, // the latest: the log end
		{8, -1, -1}, // newer than any
	} {
		e, end := endOffsetFor(es, 120, c.epoch)
		if e != c.wantEpoch || end != c.wantEnd {
			t.Errorf("epoch %d: (%d, %d), want (%d, %d)", c.epoch, e, end, c.wantEpoch, c.wantEnd)
		}
	}
	if e, end := endOffsetFor(nil, 5, 0); e != -1 || end != -1 {
		t.Errorf("no epochs: (%d, %d)", e, end)
	}
}
