package logdir

// Header is one record header. A nil Value is a null header value.
type Header struct {
	Key   []byte
	Value []byte
}

// Record is one decoded record. Key, Value and the header slices alias the
// buffer the record was decoded from: copy them to keep them past the next
// read. A nil Key is a null key; a nil Value is a null value (a tombstone),
// which is not the same as an empty value.
type Record struct {
	Offset    int64
	Timestamp int64 // milliseconds since the Unix epoch (CreateTime)
	Key       []byte
	Value     []byte
	Headers   []Header
}
