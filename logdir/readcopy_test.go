package logdir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// ReadForCopy leaves the CRCs to AppendVerbatim: a batch damaged in the
// leader's segment is read (Read refuses it), and the follower's
// AppendVerbatim refuses it in turn, writing nothing of the read, so
// that every byte on the way from one log into the other is checked once
// and no byte that fails its CRC is stored.
func TestReadForCopyLeavesTheCRCToAppendVerbatim(t *testing.T) {
	leader, ldir := newLeader(t, Config{})
	for i := 0; i < 3; i++ {
		if _, err := leader.Append(0, makeBatch("v", 4, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	// Damage the last byte of the second batch (a record's value: the
	// framing stays readable, the CRC fails).
	r, err := OpenReader(ldir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	whole, _, err := r.Read(nil, 0, -1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := ParseBatchHeader(whole)
	second, _ := ParseBatchHeader(whole[first.Size():])
	at := int64(first.Size() + second.Size() - 1)
	seg := filepath.Join(ldir, "00000000000000000000.log")
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
	f.Close()

	r2, err := OpenReader(ldir)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, _, err := r2.Read(nil, 0, -1, 1<<20); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read of a damaged batch: %v, want ErrCorrupt", err)
	}
	raw, _, err := r2.ReadForCopy(nil, 0, -1, 1<<20)
	if err != nil {
		t.Fatalf("ReadForCopy: %v", err)
	}
	if len(raw) != len(whole) {
		t.Fatalf("ReadForCopy read %d bytes, the log holds %d", len(raw), len(whole))
	}
	// The reader checks CRCs again after a ReadForCopy.
	if _, _, err := r2.Read(nil, 0, -1, 1<<20); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read after ReadForCopy: %v, want ErrCorrupt", err)
	}

	follower, _, err := Recover(filepath.Join(t.TempDir(), "orders-0"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	if _, err := follower.AppendVerbatim(raw); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("AppendVerbatim of a damaged copy: %v, want ErrCorrupt", err)
	}
	if st, err := follower.State(); err != nil || st.LogEndOffset != 0 || st.ActiveSize != 0 {
		t.Fatalf("after the refused copy the follower holds %+v (%v), want nothing", st, err)
	}
	// The batch before the damage copies.
	if _, err := follower.AppendVerbatim(raw[:first.Size()]); err != nil {
		t.Fatal(err)
	}
}
