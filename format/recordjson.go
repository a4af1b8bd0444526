package format

// Records as JSON lines: what `mk consume -o json` prints and
// `mk produce --input json` reads. One record is one line:
//
//	{"topic":"orders","partition":0,"offset":5,"timestamp":1700000000000,"key":"k","value":"v","headers":[{"key":"h","value":"x"}]}
//
// Fields, always in this order:
//
//	topic, partition, offset  where the record was read from
//	timestamp                 milliseconds since the Unix epoch; -1 for none
//	key, value                a JSON string, or null for a null key or value
//	key_encoding,             present only when the bytes are not valid UTF-8:
//	value_encoding            then the string holds them in standard base64
//	                          (with padding) and the field says "base64"
//	headers                   always an array, [] when there are none; each
//	                          {"key":...,"value":...} with the same encoding
//	                          rule for both (a header key is never null)
//
// Strings are escaped as encoding/json escapes them with HTML escaping off:
// \" \\ \n \r \t \b \f, other control characters as \u00XX, everything else
// (including non-ASCII UTF-8, and U+2028/U+2029, which encoding/json would
// escape for JavaScript) as is. So `jq .value` shows text as text.
//
// Reading accepts exactly those lines (topic and offset are accepted and
// ignored) and the shorter forms a person writes:
//
//	{"value":"hello"}                         key null, no headers
//	{"key":"k","value":{"any":"json"}}        a key or value that is not a JSON
//	                                          string is taken as its compact
//	                                          JSON text: {"any":"json"}
//	{"value":"x","headers":{"h1":"a"}}        headers as an object (in order)
//	{"value":"x","timestamp":"2024-05-01T12:00:00Z"}  RFC 3339 timestamp
//	{"value":"x","partition":2}               to that partition
//
// Anything else (unknown or repeated fields, trailing text, invalid UTF-8 in
// a string, a bad base64 string) is an error that says what is wrong.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"mk/logdir"
)

// AppendRecordJSON appends r as one JSON line, with its trailing newline, to
// dst and returns the extended buffer. It allocates nothing when dst has room.
func AppendRecordJSON(dst []byte, topic string, partition int32, r *logdir.Record) []byte {
	dst = append(dst, `{"topic":`...)
	dst = appendJSONString(dst, topic)
	dst = append(dst, `,"partition":`...)
	dst = strconv.AppendInt(dst, int64(partition), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, r.Offset, 10)
	dst = append(dst, `,"timestamp":`...)
	dst = strconv.AppendInt(dst, r.Timestamp, 10)
	dst = appendBytesField(dst, `,"key":`, `,"key_encoding":"base64"`, r.Key)
	dst = appendBytesField(dst, `,"value":`, `,"value_encoding":"base64"`, r.Value)
	dst = append(dst, `,"headers":[`...)
	for i := range r.Headers {
		h := &r.Headers[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		if h.Key == nil {
			dst = append(dst, `{"key":""`...) // header keys are never null
		} else {
			dst = appendBytesField(dst, `{"key":`, `,"key_encoding":"base64"`, h.Key)
		}
		dst = appendBytesField(dst, `,"value":`, `,"value_encoding":"base64"`, h.Value)
		dst = append(dst, '}')
	}
	return append(dst, "]}\n"...)
}

// appendBytesField appends name, then b as a JSON string, null, or a base64
// string followed by encodingField.
func appendBytesField(dst []byte, name, encodingField string, b []byte) []byte {
	dst = append(dst, name...)
	switch {
	case b == nil:
		return append(dst, "null"...)
	case utf8.Valid(b):
		return appendJSONString(dst, b)
	default:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, b)
		dst = append(dst, '"')
		return append(dst, encodingField...)
	}
}

// jsonSafe[c] is true when byte c stands for itself inside a JSON string.
// Bytes >= 0x80 are safe because callers pass valid UTF-8.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s, which must be valid UTF-8, as a JSON string.
func appendJSONString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if jsonSafe[c] {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// InputRecord is one record read from a JSON line for producing.
type InputRecord struct {
	Key       []byte // nil for a null key
	Value     []byte // nil for a null value (a tombstone)
	Headers   []logdir.Header
	Partition int32 // -1 when absent: the partitioner chooses
	Timestamp int64 // -1 when absent: the producer stamps the current time
}

// ErrInvalidJSON is wrapped by every ParseError for a line that is not JSON.
var ErrInvalidJSON = errors.New("invalid JSON")

// ParseError is a JSON line that cannot be read as a record. Err says what is
// wrong; it wraps ErrInvalidJSON when the line is not JSON at all.
type ParseError struct {
	Line   int // 1-based line number, 0 when not known (see AtLine)
	Column int // 1-based byte column of the problem
	Err    error
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return "line " + strconv.Itoa(e.Line) + ": " + e.Err.Error()
	}
	return e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

// AtLine returns err with its line number set to line if err is a
// *ParseError, else err unchanged.
func AtLine(err error, line int) error {
	var pe *ParseError
	if !errors.As(err, &pe) {
		return err
	}
	c := *pe
	c.Line = line
	return &c
}

// ParseRecordJSON reads one record from line (without its newline). The
// returned record owns its memory. To read many lines without allocating,
// use a RecordDecoder.
func ParseRecordJSON(line []byte) (InputRecord, error) {
	var d RecordDecoder
	return d.Decode(line)
}

// RecordDecoder reads records from JSON lines, reusing its memory: the
// slices of a returned record are valid until the next call to Decode.
// The zero value is ready to use.
type RecordDecoder struct {
	buf     []byte // decoded bytes of all keys, values and headers
	headers []span // header keys and values, in pairs
	out     []logdir.Header
	p       parser
}

// span is a run of RecordDecoder.buf, or null.
type span struct {
	start, end int
	null       bool
	base64     bool // holds base64 text still to be decoded
	text       bool // was a JSON string (only strings may be base64)
}

const (
	fieldTopic = 1 << iota
	fieldPartition
	fieldOffset
	fieldTimestamp
	fieldKey
	fieldValue
	fieldKeyEncoding
	fieldValueEncoding
	fieldHeaders
)

const knownFields = "topic, partition, offset, timestamp, key, key_encoding, value, value_encoding, headers"

// Decode reads one record from line (without its newline).
func (d *RecordDecoder) Decode(line []byte) (InputRecord, error) {
	if d.buf == nil {
		d.buf = make([]byte, 0, 256) // non-nil, so that an empty span is not null
	}
	d.buf = d.buf[:0]
	d.headers = d.headers[:0]
	p := &d.p
	*p = parser{data: line, d: d}
	rec := InputRecord{Partition: -1, Timestamp: -1}
	key := span{null: true}
	value := span{null: true}
	var keyEnc, valueEnc bool
	var seen int

	p.skipSpace()
	if p.pos == len(line) {
		return rec, p.errorf(0, "empty line, want a JSON object")
	}
	if !p.consume('{') {
		return rec, p.syntax("want a JSON object, starting with {")
	}
	for first := true; ; first = false {
		p.skipSpace()
		if p.pos < len(line) && line[p.pos] == '}' {
			if !first {
				return rec, p.syntax("want a field name after ,")
			}
			p.pos++
			break
		}
		fieldAt := p.pos
		name, f, err := p.fieldName()
		if err != nil {
			return rec, err
		}
		if f == 0 {
			return rec, p.errorf(fieldAt, "unknown field %q (known: %s)", name, knownFields)
		}
		if seen&f != 0 {
			return rec, p.errorf(fieldAt, "field %q given twice", name)
		}
		seen |= f
		switch f {
		case fieldTopic, fieldOffset:
			err = p.skipValue(0)
		case fieldPartition:
			var n int64
			var null bool
			n, null, err = p.integer(name, 0, math.MaxInt32, "a partition number")
			if err == nil && !null {
				rec.Partition = int32(n)
			}
		case fieldTimestamp:
			rec.Timestamp, err = p.timestamp()
		case fieldKey:
			key, err = p.bytesValue()
		case fieldValue:
			value, err = p.bytesValue()
		case fieldKeyEncoding:
			keyEnc, err = p.encoding(name)
		case fieldValueEncoding:
			valueEnc, err = p.encoding(name)
		case fieldHeaders:
			err = p.headers()
		}
		if err != nil {
			return rec, err
		}
		p.skipSpace()
		if p.consume('}') {
			break
		}
		if !p.consume(',') {
			if p.pos == len(line) {
				return rec, p.syntax("line ends inside the object, want , or }")
			}
			return rec, p.syntax("want , or } after the value of %q", name)
		}
	}
	p.skipSpace()
	if p.pos != len(line) {
		return rec, p.syntax("unexpected text after the object")
	}

	if keyEnc {
		if err := d.markBase64(&key, "key"); err != nil {
			return rec, p.errorf(-1, "%v", err)
		}
	}
	if valueEnc {
		if err := d.markBase64(&value, "value"); err != nil {
			return rec, p.errorf(-1, "%v", err)
		}
	}
	if err := d.decodeBase64(&key); err != nil {
		return rec, p.errorf(-1, "key: invalid base64: %v", err)
	}
	if err := d.decodeBase64(&value); err != nil {
		return rec, p.errorf(-1, "value: invalid base64: %v", err)
	}
	for i := range d.headers {
		if err := d.decodeBase64(&d.headers[i]); err != nil {
			what := [2]string{"key", "value"}[i%2]
			return rec, p.errorf(-1, "header %d %s: invalid base64: %v", i/2, what, err)
		}
	}

	// Slices are cut only now: d.buf may have moved while it grew. Each is
	// capped at its end so that appending to one cannot overwrite another.
	rec.Key = d.slice(key)
	rec.Value = d.slice(value)
	if len(d.headers) > 0 {
		d.out = d.out[:0]
		for i := 0; i < len(d.headers); i += 2 {
			d.out = append(d.out, logdir.Header{Key: d.slice(d.headers[i]), Value: d.slice(d.headers[i+1])})
		}
		rec.Headers = d.out
	}
	return rec, nil
}

func (d *RecordDecoder) slice(s span) []byte {
	if s.null {
		return nil
	}
	return d.buf[s.start:s.end:s.end]
}

func (d *RecordDecoder) markBase64(s *span, what string) error {
	if s.null {
		return nil
	}
	if !s.text {
		return fmt.Errorf("%s_encoding is base64 but %s is not a JSON string", what, what)
	}
	s.base64 = true
	return nil
}

// decodeBase64 decodes a span marked base64, appending the bytes to d.buf.
func (d *RecordDecoder) decodeBase64(s *span) error {
	if !s.base64 || s.null {
		return nil
	}
	start := len(d.buf)
	var err error
	d.buf, err = base64.StdEncoding.AppendDecode(d.buf, d.buf[s.start:s.end])
	if err != nil {
		return err
	}
	*s = span{start: start, end: len(d.buf)}
	return nil
}

// parser reads JSON from data, appending decoded strings to d.buf.
type parser struct {
	data []byte
	pos  int
	d    *RecordDecoder
}

// maxDepth bounds the nesting of a key or value given as JSON, so that a
// line of ten thousand ['s cannot exhaust the stack.
const maxDepth = 1000

// errorf returns a ParseError about the byte at pos, or about the whole line
// when pos is negative.
func (p *parser) errorf(pos int, format string, args ...any) error {
	return &ParseError{Column: max(pos+1, 0), Err: fmt.Errorf(format, args...)}
}

func (p *parser) syntax(format string, args ...any) error {
	what := "unexpected end of line"
	if p.pos < len(p.data) {
		what = "unexpected " + describeByte(p.data, p.pos)
	}
	return &ParseError{Column: p.pos + 1, Err: fmt.Errorf("%w at column %d: %s: %s",
		ErrInvalidJSON, p.pos+1, what, fmt.Sprintf(format, args...))}
}

func describeByte(data []byte, pos int) string {
	c := data[pos]
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) consume(c byte) bool {
	if p.pos < len(p.data) && p.data[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// fieldName reads `"name" :` and returns name and its field bit (0 for an
// unknown name). Known names cost no allocation.
func (p *parser) fieldName() (string, int, error) {
	if p.pos >= len(p.data) || p.data[p.pos] != '"' {
		return "", 0, p.syntax("want a field name in double quotes")
	}
	start := len(p.d.buf)
	if err := p.str(); err != nil {
		return "", 0, err
	}
	name, f := lookupField(p.d.buf[start:])
	p.d.buf = p.d.buf[:start]
	p.skipSpace()
	if !p.consume(':') {
		return "", 0, p.syntax("want : after the field name")
	}
	p.skipSpace()
	return name, f, nil
}

func lookupField(b []byte) (string, int) {
	switch string(b) {
	case "topic":
		return "topic", fieldTopic
	case "partition":
		return "partition", fieldPartition
	case "offset":
		return "offset", fieldOffset
	case "timestamp":
		return "timestamp", fieldTimestamp
	case "key":
		return "key", fieldKey
	case "value":
		return "value", fieldValue
	case "key_encoding":
		return "key_encoding", fieldKeyEncoding
	case "value_encoding":
		return "value_encoding", fieldValueEncoding
	case "headers":
		return "headers", fieldHeaders
	}
	return string(b), 0
}

// str decodes the JSON string at p.pos, appending its bytes to p.d.buf.
func (p *parser) str() error {
	p.pos++ // the opening quote
	data := p.data
	for {
		start := p.pos
		for p.pos < len(data) {
			c := data[p.pos]
			if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
				break
			}
			p.pos++
		}
		p.d.buf = append(p.d.buf, data[start:p.pos]...)
		if p.pos == len(data) {
			return p.syntax("line ends inside a string")
		}
		switch c := data[p.pos]; {
		case c == '"':
			p.pos++
			return nil
		case c == '\\':
			if err := p.escape(); err != nil {
				return err
			}
		case c < 0x20:
			return p.syntax("control characters must be escaped in a string")
		default:
			r, size := utf8.DecodeRune(data[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return p.errorf(p.pos, "invalid UTF-8 in a string at column %d; write bytes that are not text in base64 with a _encoding field", p.pos+1)
			}
			p.d.buf = append(p.d.buf, data[p.pos:p.pos+size]...)
			p.pos += size
		}
	}
}

// escape decodes the escape sequence at p.pos.
func (p *parser) escape() error {
	if p.pos+1 >= len(p.data) {
		p.pos++
		return p.syntax("line ends inside an escape sequence")
	}
	c := p.data[p.pos+1]
	var b byte
	switch c {
	case '"', '\\', '/':
		b = c
	case 'b':
		b = '\b'
	case 'f':
		b = '\f'
	case 'n':
		b = '\n'
	case 'r':
		b = '\r'
	case 't':
		b = '\t'
	case 'u':
		r, ok := p.hex4(p.pos + 2)
		if !ok {
			p.pos++
			return p.syntax(`want four hex digits after \u`)
		}
		p.pos += 6
		if utf16.IsSurrogate(r) {
			// A pair is one character; a lone half becomes U+FFFD, as in
			// encoding/json.
			if r2, ok := p.hex4(p.pos + 2); ok && p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					p.pos += 6
					r = dec
				} else {
					r = utf8.RuneError
				}
			} else {
				r = utf8.RuneError
			}
		}
		p.d.buf = utf8.AppendRune(p.d.buf, r)
		return nil
	default:
		p.pos++
		return p.syntax(`unknown escape sequence`)
	}
	p.d.buf = append(p.d.buf, b)
	p.pos += 2
	return nil
}

func (p *parser) hex4(at int) (rune, bool) {
	if at+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// bytesValue reads a key or value: a string, null, or any other JSON value
// taken as its compact text.
func (p *parser) bytesValue() (span, error) {
	if p.pos >= len(p.data) {
		return span{}, p.syntax("want a value")
	}
	switch p.data[p.pos] {
	case '"':
		start := len(p.d.buf)
		err := p.str()
		return span{start: start, end: len(p.d.buf), text: true}, err
	case 'n':
		if p.literal("null") {
			return span{null: true}, nil
		}
	}
	at := p.pos
	if err := p.skipValue(0); err != nil {
		return span{}, err
	}
	start := len(p.d.buf)
	p.d.buf = appendCompact(p.d.buf, p.data[at:p.pos])
	return span{start: start, end: len(p.d.buf)}, nil
}

// appendCompact appends the valid JSON text v without insignificant space.
func appendCompact(dst, v []byte) []byte {
	inString, escaped := false, false
	for _, c := range v {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

func (p *parser) literal(lit string) bool {
	if len(p.data)-p.pos >= len(lit) && string(p.data[p.pos:p.pos+len(lit)]) == lit {
		p.pos += len(lit)
		return true
	}
	return false
}

// skipValue checks and skips the JSON value at p.pos.
func (p *parser) skipValue(depth int) error {
	if depth > maxDepth {
		return p.errorf(p.pos, "JSON nested deeper than %d levels", maxDepth)
	}
	if p.pos >= len(p.data) {
		return p.syntax("want a value")
	}
	switch c := p.data[p.pos]; {
	case c == '"':
		mark := len(p.d.buf)
		err := p.str()
		p.d.buf = p.d.buf[:mark]
		return err
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		p.pos++
		p.skipSpace()
		if p.consume(end) {
			return nil
		}
		for {
			if c == '{' {
				if p.pos >= len(p.data) || p.data[p.pos] != '"' {
					return p.syntax("want a field name in double quotes")
				}
				mark := len(p.d.buf)
				err := p.str()
				p.d.buf = p.d.buf[:mark]
				if err != nil {
					return err
				}
				p.skipSpace()
				if !p.consume(':') {
					return p.syntax("want : after the field name")
				}
				p.skipSpace()
			}
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
			p.skipSpace()
			if p.consume(end) {
				return nil
			}
			if !p.consume(',') {
				return p.syntax("want , or %c", end)
			}
			p.skipSpace()
		}
	case c == '-' || '0' <= c && c <= '9':
		_, err := p.number()
		return err
	case p.literal("true"), p.literal("false"), p.literal("null"):
		return nil
	}
	return p.syntax("want a value")
}

// number skips a JSON number and reports whether it is an integer.
func (p *parser) number() (integer bool, err error) {
	data := p.data
	i := p.pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		return false, p.syntax("want a digit")
	}
	integer = true
	if i < len(data) && data[i] == '.' {
		integer = false
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			p.pos = i
			return false, p.syntax("want a digit after the decimal point")
		}
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		integer = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			p.pos = i
			return false, p.syntax("want a digit in the exponent")
		}
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	}
	p.pos = i
	return integer, nil
}

// integer reads an integer in [lo, hi], or null.
func (p *parser) integer(name string, lo, hi int64, what string) (n int64, null bool, err error) {
	at := p.pos
	if p.literal("null") {
		return 0, true, nil
	}
	if p.pos >= len(p.data) || p.data[p.pos] != '-' && (p.data[p.pos] < '0' || p.data[p.pos] > '9') {
		if err := p.skipValue(0); err != nil {
			return 0, false, err
		}
		return 0, false, p.errorf(at, "%q must be %s, not %s", name, what, p.data[at:p.pos])
	}
	integer, err := p.number()
	if err != nil {
		return 0, false, err
	}
	text := p.data[at:p.pos]
	n, perr := strconv.ParseInt(string(text), 10, 64)
	if !integer || perr != nil || n < lo || n > hi {
		return 0, false, p.errorf(at, "%q must be %s, not %s", name, what, text)
	}
	return n, false, nil
}

// timestamp reads milliseconds since the epoch, an RFC 3339 string, or null.
func (p *parser) timestamp() (int64, error) {
	at := p.pos
	if p.pos < len(p.data) && p.data[p.pos] == '"' {
		start := len(p.d.buf)
		if err := p.str(); err != nil {
			return 0, err
		}
		text := string(p.d.buf[start:])
		p.d.buf = p.d.buf[:start]
		t, err := time.Parse(time.RFC3339Nano, text)
		if err != nil || t.UnixMilli() < 0 {
			return 0, p.errorf(at, `"timestamp" must be milliseconds since the Unix epoch or an RFC 3339 time, not %q`, text)
		}
		return t.UnixMilli(), nil
	}
	n, null, err := p.integer("timestamp", -1, math.MaxInt64, "milliseconds since the Unix epoch (or -1 for none)")
	if err != nil || null {
		return -1, err
	}
	return n, nil
}

// encoding reads the value of a *_encoding field: "base64" (or null).
func (p *parser) encoding(name string) (bool, error) {
	at := p.pos
	if p.literal("null") {
		return false, nil
	}
	if p.pos >= len(p.data) || p.data[p.pos] != '"' {
		if err := p.skipValue(0); err != nil {
			return false, err
		}
		return false, p.errorf(at, `%q must be "base64"`, name)
	}
	start := len(p.d.buf)
	if err := p.str(); err != nil {
		return false, err
	}
	enc := p.d.buf[start:]
	p.d.buf = p.d.buf[:start]
	if string(enc) != "base64" {
		return false, p.errorf(at, `%q must be "base64", not %q`, name, enc)
	}
	return true, nil
}

// headers reads the headers array (or object, or null) into p.d.headers.
func (p *parser) headers() error {
	if p.literal("null") {
		return nil
	}
	if p.consume('{') {
		return p.headerObject()
	}
	if !p.consume('[') {
		return p.syntax(`want "headers" as an array of {"key":...,"value":...} objects`)
	}
	p.skipSpace()
	if p.consume(']') {
		return nil
	}
	for i := 0; ; i++ {
		if err := p.header(i); err != nil {
			return err
		}
		p.skipSpace()
		if p.consume(']') {
			return nil
		}
		if !p.consume(',') {
			return p.syntax("want , or ] in the headers array")
		}
		p.skipSpace()
	}
}

// header reads one {"key":...,"value":...} header object.
func (p *parser) header(i int) error {
	at := p.pos
	if !p.consume('{') {
		return p.syntax(`want header %d as {"key":...,"value":...}`, i)
	}
	key, value := span{null: true}, span{null: true}
	var keyEnc, valueEnc bool
	var seen int
	for first := true; ; first = false {
		p.skipSpace()
		if first && p.consume('}') {
			break
		}
		fieldAt := p.pos
		name, f, err := p.fieldName()
		if err != nil {
			return err
		}
		if f&(fieldKey|fieldValue|fieldKeyEncoding|fieldValueEncoding) == 0 {
			return p.errorf(fieldAt, "header %d: unknown field %q (known: key, key_encoding, value, value_encoding)", i, name)
		}
		if seen&f != 0 {
			return p.errorf(fieldAt, "header %d: field %q given twice", i, name)
		}
		seen |= f
		switch f {
		case fieldKey:
			if p.pos < len(p.data) && p.data[p.pos] != '"' {
				return p.errorf(p.pos, "header %d: \"key\" must be a string", i)
			}
			key, err = p.bytesValue()
		case fieldValue:
			value, err = p.bytesValue()
		case fieldKeyEncoding:
			keyEnc, err = p.encoding(name)
		case fieldValueEncoding:
			valueEnc, err = p.encoding(name)
		}
		if err != nil {
			return err
		}
		p.skipSpace()
		if p.consume('}') {
			break
		}
		if !p.consume(',') {
			return p.syntax("want , or } in header %d", i)
		}
	}
	if seen&fieldKey == 0 {
		return p.errorf(at, "header %d has no \"key\"", i)
	}
	if keyEnc {
		if err := p.d.markBase64(&key, "key"); err != nil {
			return p.errorf(at, "header %d: %v", i, err)
		}
	}
	if valueEnc {
		if err := p.d.markBase64(&value, "value"); err != nil {
			return p.errorf(at, "header %d: %v", i, err)
		}
	}
	p.d.headers = append(p.d.headers, key, value)
	return nil
}

// headerObject reads headers given as {"name":"value",...}, in order.
func (p *parser) headerObject() error {
	p.skipSpace()
	if p.consume('}') {
		return nil
	}
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return p.syntax("want a header name in double quotes")
		}
		start := len(p.d.buf)
		if err := p.str(); err != nil {
			return err
		}
		key := span{start: start, end: len(p.d.buf), text: true}
		p.skipSpace()
		if !p.consume(':') {
			return p.syntax("want : after the header name")
		}
		p.skipSpace()
		value, err := p.bytesValue()
		if err != nil {
			return err
		}
		p.d.headers = append(p.d.headers, key, value)
		p.skipSpace()
		if p.consume('}') {
			return nil
		}
		if !p.consume(',') {
			return p.syntax("want , or } in the headers object")
		}
		p.skipSpace()
	}
}
