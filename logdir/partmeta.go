package logdir

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// PartitionMetadataFile is Kafka's partition.metadata (KIP-516): the topic
// id a replica belongs to, so that a replica of a deleted topic is never
// taken for one of a new topic with the same name.
//
//	version: 0
//	topic_id: q3Zb0Qx6Ts2kPSJ3AAm0ow
const PartitionMetadataFile = "partition.metadata"

// ErrBadPartitionMetadata: partition.metadata exists but does not hold a
// well-formed topic id (empty, cut short, garbage). Whose replica it is is
// then unknown, so nothing may be deleted on its account.
var ErrBadPartitionMetadata = errors.New("unreadable partition.metadata")

// ReadPartitionMetadata returns the topic id in dir's partition.metadata.
// A missing file is an error matching os.ErrNotExist; a file that is not
// Kafka's format with a topic id of 16 bytes in unpadded URL-safe base64
// is ErrBadPartitionMetadata, naming the file and what is wrong. As Kafka's
// reader does, it accepts a file whose last line lacks its newline.
func ReadPartitionMetadata(dir string) (string, error) {
	path := filepath.Join(dir, PartitionMetadataFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadPartitionMetadata, path, fmt.Sprintf(format, args...))
	}
	if len(data) == 0 {
		return "", bad("it is empty")
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2 || lines[0] != "version: 0" || !strings.HasPrefix(lines[1], "topic_id: ") {
		return "", bad(`it is not the two lines "version: 0" and "topic_id: ID"`)
	}
	id := strings.TrimPrefix(lines[1], "topic_id: ")
	if b, err := base64.RawURLEncoding.DecodeString(id); err != nil || len(b) != 16 {
		return "", bad("topic id %q is not 16 bytes of URL-safe base64", id)
	}
	return id, nil
}

// WritePartitionMetadata writes dir's partition.metadata naming topicID,
// atomically.
func WritePartitionMetadata(dir, topicID string) error {
	return WriteFileAtomic(filepath.Join(dir, PartitionMetadataFile), []byte("version: 0\ntopic_id: "+topicID+"\n"), 0o644)
}
