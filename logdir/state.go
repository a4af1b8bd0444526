package logdir

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"strconv"
	"time"
)

// State is a partition replica's live state: where the log ends, what is
// committed, and the fence. It lives in the file "state" in the partition
// directory (see doc.go for the layout). Appenders rewrite it in place under
// the partition lock after every append; readers read it without a lock and
// retry when the checksum says they caught a write half-way.
type State struct {
	LeaderEpoch int32 // the epoch producers must present to append (the fence)
	Leader      bool  // this replica is the partition leader; producers append only to a leader

	LogStartOffset int64 // first offset still in the log (retention moves it up)
	LogEndOffset   int64 // next offset to assign
	HighWatermark  int64 // consumers read below this
	// HighWatermarkFollowsLEO: the ISR is this replica alone, so an append
	// is committed as soon as it is written and the appender moves the high
	// watermark itself. With followers in the ISR the leader broker moves it.
	HighWatermarkFollowsLEO bool
	// LostCommittedTo, when above LogEndOffset, says that the log lost
	// records it had and that may have been committed: offsets
	// LogEndOffset to LostCommittedTo-1 (damage cut by recovery, segment
	// bytes gone under a running broker). Such a replica is never left a
	// leader and may not become one (ErrMissingRecords) until it holds
	// them again or an unclean election accepts the loss. 0 otherwise.
	LostCommittedTo int64
	// FollowsEpoch is the leader epoch whose leader's log this follower
	// has checked its own against (its divergent suffix cut, KIP-101);
	// -1 for a leader, or a follower that has not done so at its current
	// epoch. A leader counts a follower's log end only at its own epoch:
	// before that check the follower may hold records the leader does not.
	FollowsEpoch  int32
	FlushedOffset int64 // every offset below this is fsynced (the recovery point)
	LastFlushMs   int64 // wall clock of the last fsync, for flush.ms

	ActiveSegment        int64 // base offset of the segment appends go to
	ActiveSize           int64 // committed bytes of the active segment
	ActiveFirstTimestamp int64 // max timestamp of the active segment's first batch (segment.ms); -1 if empty
	ActiveMaxTimestamp   int64 // largest timestamp in the active segment so far; -1 if none
	ActiveMaxTsOffset    int64 // offset of the batch holding ActiveMaxTimestamp
	BytesSinceIndex      int64 // log bytes appended since the last offset-index entry
	IndexEntries         int64 // committed entries in the active .index
	TimeIndexEntries     int64 // committed entries in the active .timeindex
	LastTimeIndexTs      int64 // timestamp of the last .timeindex entry; -1 if none

	Seq uint64 // grows on every write; lets a watcher tell states apart
}

// stateFileSize is fixed so that every rewrite is one pwrite over the whole
// file: a reader sees either a whole old state, a whole new one, or a mix
// that fails the checksum and is read again.
const stateFileSize = 1024

// The state file's first line names its format version. A reader reads
// every version up to its own and refuses a newer one (ErrNewerFormat)
// rather than guess at lines it does not know: a misread fence, role or
// lost-committed-to would let a replica lead or acknowledge what it must
// not, and an older mk must never rewrite a newer mk's file in its own
// format. Any change to the lines that a reader of the previous version
// would misread (a new line, a changed meaning) bumps the version.
//
//	v1  the first format; lost-committed-to and follows-epoch were added to
//	    it later without a bump, so a v1 file may lack them (read as 0 and
//	    -1: nothing known lost, log not yet checked against the leader)
//	v2  v1 with lost-committed-to and follows-epoch always present
const (
	stateMagicPrefix = "mk-partition-state v"
	stateVersion     = 2
	stateMagic       = "mk-partition-state v2"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stateFields lists the lines of the state file in order. Text, so that
// `cat state` teaches what a partition is; one "name value" pair a line.
func (s *State) appendText(b []byte) []byte {
	b = append(b, stateMagic...)
	b = append(b, '\n')
	line := func(name string, v int64) {
		b = append(b, name...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, v, 10)
		b = append(b, '\n')
	}
	line("leader-epoch", int64(s.LeaderEpoch))
	line("leader", b2i(s.Leader))
	line("log-start-offset", s.LogStartOffset)
	line("log-end-offset", s.LogEndOffset)
	line("high-watermark", s.HighWatermark)
	line("high-watermark-follows-log-end", b2i(s.HighWatermarkFollowsLEO))
	line("lost-committed-to", s.LostCommittedTo)
	line("follows-epoch", int64(s.FollowsEpoch))
	line("flushed-offset", s.FlushedOffset)
	line("last-flush-ms", s.LastFlushMs)
	line("active-segment", s.ActiveSegment)
	line("active-size", s.ActiveSize)
	line("active-first-timestamp", s.ActiveFirstTimestamp)
	line("active-max-timestamp", s.ActiveMaxTimestamp)
	line("active-max-timestamp-offset", s.ActiveMaxTsOffset)
	line("bytes-since-index", s.BytesSinceIndex)
	line("index-entries", s.IndexEntries)
	line("timeindex-entries", s.TimeIndexEntries)
	line("last-timeindex-timestamp", s.LastTimeIndexTs)
	b = append(b, "seq "...)
	b = strconv.AppendUint(b, s.Seq, 10)
	b = append(b, '\n')
	return b
}

func b2i(v bool) int64 {
	if v {
		return 1
	}
	return 0
}

// encodeState renders s into buf (len stateFileSize): the text, a crc32c
// line over it, then spaces and a final newline as padding.
func encodeState(buf []byte, s *State) []byte {
	b := s.appendText(buf[:0])
	crc := crc32.Checksum(b, castagnoli)
	b = append(b, "crc32c "...)
	b = appendHex32(b, crc)
	b = append(b, '\n')
	if len(b) > stateFileSize-1 {
		panic("logdir: state does not fit its file")
	}
	n := len(b)
	b = append(b, statePadding[n:]...)
	b[stateFileSize-1] = '\n'
	return b
}

// statePadding fills the state file after its text.
var statePadding = bytes.Repeat([]byte{' '}, stateFileSize)

func appendHex32(b []byte, v uint32) []byte {
	const digits = "0123456789abcdef"
	for i := 28; i >= 0; i -= 4 {
		b = append(b, digits[(v>>uint(i))&0xf])
	}
	return b
}

// decodeState parses a state file image. Any damage is ErrBadState; a
// format newer than stateVersion is ErrNewerFormat.
func decodeState(b []byte) (State, error) {
	var s State
	version, magicLen := stateFileVersion(b)
	if version > stateVersion {
		return s, ErrNewerFormat
	}
	i := bytes.Index(b, []byte("crc32c "))
	if version < 1 || i < 0 || i+15 > len(b) {
		return s, ErrBadState
	}
	want, err := strconv.ParseUint(string(b[i+7:i+15]), 16, 32)
	if err != nil || uint32(want) != crc32.Checksum(b[:i], castagnoli) {
		return s, ErrBadState
	}
	var leader, follows, epoch int64
	followsEpoch, lostCommittedTo := int64(-1), int64(0) // absent from old v1 files
	var seen uint8                                       // the lines v2 requires: bit 0, bit 1
	rest := b[magicLen:i]
	for len(rest) > 0 {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return s, ErrBadState
		}
		line := rest[:nl]
		rest = rest[nl+1:]
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return s, ErrBadState
		}
		// A switch rather than a map from names to fields: decoding runs
		// on every append and every read, and must not allocate.
		var p *int64
		switch string(line[:sp]) {
		case "seq":
			if s.Seq, err = strconv.ParseUint(string(line[sp+1:]), 10, 64); err != nil {
				return s, ErrBadState
			}
			continue
		case "leader-epoch":
			p = &epoch
		case "leader":
			p = &leader
		case "log-start-offset":
			p = &s.LogStartOffset
		case "log-end-offset":
			p = &s.LogEndOffset
		case "high-watermark":
			p = &s.HighWatermark
		case "high-watermark-follows-log-end":
			p = &follows
		case "lost-committed-to":
			p = &lostCommittedTo
			seen |= 1
		case "follows-epoch":
			p = &followsEpoch
			seen |= 2
		case "flushed-offset":
			p = &s.FlushedOffset
		case "last-flush-ms":
			p = &s.LastFlushMs
		case "active-segment":
			p = &s.ActiveSegment
		case "active-size":
			p = &s.ActiveSize
		case "active-first-timestamp":
			p = &s.ActiveFirstTimestamp
		case "active-max-timestamp":
			p = &s.ActiveMaxTimestamp
		case "active-max-timestamp-offset":
			p = &s.ActiveMaxTsOffset
		case "bytes-since-index":
			p = &s.BytesSinceIndex
		case "index-entries":
			p = &s.IndexEntries
		case "timeindex-entries":
			p = &s.TimeIndexEntries
		case "last-timeindex-timestamp":
			p = &s.LastTimeIndexTs
		default:
			return s, ErrBadState
		}
		if *p, err = strconv.ParseInt(string(line[sp+1:]), 10, 64); err != nil {
			return s, ErrBadState
		}
	}
	if version >= 2 && seen != 3 {
		return s, ErrBadState
	}
	s.LeaderEpoch = int32(epoch)
	s.LostCommittedTo = lostCommittedTo
	s.FollowsEpoch = int32(followsEpoch)
	s.Leader = leader == 1
	s.HighWatermarkFollowsLEO = follows == 1
	return s, nil
}

// stateFileVersion reads the version on the first line of a state file
// image and the length of that line with its newline; 0 when the line is
// not a state file's.
func stateFileVersion(b []byte) (version int, lineLen int) {
	if !bytes.HasPrefix(b, []byte(stateMagicPrefix)) {
		return 0, 0
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 || nl > 40 {
		return 0, 0
	}
	v, err := strconv.Atoi(string(b[len(stateMagicPrefix):nl]))
	if err != nil || v < 1 {
		return 0, 0
	}
	return v, nl + 1
}

// stateTornPatience is how long a reader without the partition lock keeps
// re-reading a state file image that fails its checksum before it calls the
// file damaged. A bad image is normally a rewrite caught half-way (a pwrite
// is not atomic against a concurrent read) and is gone microseconds later;
// but a writer descheduled in the middle of its pwrite, as happens on a
// loaded machine, leaves the same half-written image for as long as it
// waits for a CPU: milliseconds, sometimes more. So only an image that stays
// the same and bad this long is damage.
const stateTornPatience = time.Second

// readStateFile reads and decodes the state through f without the
// partition lock, re-reading while it catches a rewrite half-way (see
// stateTornPatience).
func readStateFile(f *os.File, buf []byte) (State, error) {
	return readStatePatient(f, buf, stateTornPatience)
}

// readStateLocked reads the state while holding the partition lock: every
// writer of the state holds it, so no rewrite is under way and an image
// that fails its checksum is damage at once.
func readStateLocked(f *os.File, buf []byte) (State, error) {
	return readStatePatient(f, buf, 0)
}

// readStatePatient reads the state, retrying a bad image a few times at
// once, then until the same bad image has been read for patience (at most
// ten times that in all, should bad images keep changing). A short file is
// not a rewrite under way (a rewrite is one pwrite of the whole fixed-size
// file): it fails after the quick retries.
func readStatePatient(f *os.File, buf []byte, patience time.Duration) (State, error) {
	var err error
	var prev [stateFileSize]byte
	start := time.Now()
	badSince := start // when the image in prev was first read
	for attempt := 0; ; attempt++ {
		var n int
		n, err = f.ReadAt(buf[:stateFileSize], 0)
		if n == stateFileSize {
			var s State
			if s, err = decodeState(buf[:n]); err == nil {
				return s, nil
			} else if errors.Is(err, ErrNewerFormat) {
				v, _ := stateFileVersion(buf[:n])
				return State{}, fmt.Errorf("%w: %s is format v%d, this mk reads up to v%d: run the newer mk", ErrNewerFormat, f.Name(), v, stateVersion)
			}
		} else if err == nil {
			err = ErrBadState
		}
		const quick = 10 // retries without sleeping
		if attempt < quick {
			continue
		}
		now := time.Now()
		if n != stateFileSize || now.Sub(start) >= 10*patience {
			break
		}
		if !bytes.Equal(prev[:], buf[:n]) {
			copy(prev[:], buf[:n])
			badSince = now
		} else if now.Sub(badSince) >= patience {
			break // the same bad bytes all along: damage, not a rewrite under way
		}
		time.Sleep(time.Millisecond) // a writer is mid-pwrite; give it the CPU
	}
	if errors.Is(err, ErrBadState) {
		return State{}, fmt.Errorf("%w: %s fails its checksum or does not parse", ErrBadState, f.Name())
	}
	return State{}, fmt.Errorf("%w: %s: %v", ErrBadState, f.Name(), err)
}
