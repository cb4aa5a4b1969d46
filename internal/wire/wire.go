// Package wire is the Messaging Window API envelope codec: one JSON object per
// websocket text frame, of kind "req", "resp" or "notification" (reference §5).
//
// Decoding is lenient in what it accepts (reference §22): a missing kind is
// inferred, ids and codes may be numbers or strings, and the body is kept raw
// until a typed decoder asks for it. Encoding always produces the documented
// form: kind "req", string ids.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Kind is the kind of a frame.
type Kind uint8

// The frame kinds.
const (
	KindUnknown Kind = iota
	KindRequest
	KindResponse
	KindNotification
)

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "req"
	case KindResponse:
		return "resp"
	case KindNotification:
		return "notification"
	}
	return "unknown"
}

// Frame is a decoded envelope. Body, Headers and Metadata are the raw JSON
// of those members, nil when absent or null.
type Frame struct {
	Kind     Kind
	RawKind  string // the kind member as sent, "" when absent
	ID       string
	ReqID    string
	Type     string
	Code     int
	Body     json.RawMessage
	Headers  json.RawMessage
	Metadata json.RawMessage
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed frame")

// Decode parses one frame. It never panics; an error wraps ErrMalformed.
// Body, Headers and Metadata alias data, which the caller must not reuse.
//
// The frame is validated with json.Valid and then walked once: only the
// envelope's members are looked at and the rest is sliced, not copied.
func Decode(data []byte) (*Frame, error) {
	if !json.Valid(data) {
		return nil, fmt.Errorf("%w: not valid JSON", ErrMalformed)
	}
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	f := &Frame{}
	i++
	for {
		i = skipSpace(data, i)
		switch data[i] {
		case '}':
			f.Kind = kindOf(f)
			return f, nil
		case ',':
			i++
			continue
		}
		keyEnd := skipValue(data, i)
		key := data[i:keyEnd]
		i = skipSpace(data, keyEnd) + 1 // past ':'
		i = skipSpace(data, i)
		end := skipValue(data, i)
		val := data[i:end]
		i = end
		var err error
		name := key[1 : len(key)-1]
		if bytes.IndexByte(name, '\\') >= 0 || !utf8.Valid(name) {
			name = []byte(unquote(key))
		}
		switch string(name) { // no allocation: the compiler compares bytes
		case "kind":
			f.RawKind, err = stringValue(val, "kind")
		case "id":
			f.ID, err = idValue(val, "id")
		case "reqId":
			f.ReqID, err = idValue(val, "reqId")
		case "type":
			f.Type, err = stringValue(val, "type")
		case "code":
			f.Code, err = codeValue(val)
		case "body":
			f.Body = NullToNil(val)
		case "headers":
			f.Headers = NullToNil(val)
		case "metadata":
			f.Metadata = NullToNil(val)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
}

func kindOf(f *Frame) Kind {
	switch f.RawKind {
	case "req":
		return KindRequest
	case "resp":
		return KindResponse
	case "notification":
		return KindNotification
	case "":
		// Several documented samples omit kind (reference §22.10): infer it.
		switch {
		case f.ReqID != "":
			return KindResponse
		case f.ID != "":
			return KindRequest
		case f.Type != "":
			return KindNotification
		}
	}
	return KindUnknown
}

// The scanners below walk a document json.Valid accepted, so they need not
// check its grammar, only find where each value ends.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// unquote decodes a JSON string with escapes or invalid UTF-8 (which
// becomes U+FFFD, as encoding/json does).
func unquote(raw []byte) string {
	var s string
	_ = json.Unmarshal(raw, &s) // valid: json.Valid accepted the document
	return s
}

func stringValue(v []byte, name string) (string, error) {
	switch v[0] {
	case '"':
		if in := v[1 : len(v)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
			return string(in), nil
		}
		return unquote(v), nil
	case 'n':
		return "", nil
	}
	return "", fmt.Errorf("%s must be a string, got %.20s", name, v)
}

// idValue accepts a string or a number: documented samples send numeric
// ids, and responses echo them as strings.
func idValue(v []byte, name string) (string, error) {
	if v[0] == '-' || (v[0] >= '0' && v[0] <= '9') {
		return string(v), nil
	}
	s, err := stringValue(v, name)
	if err != nil {
		return "", fmt.Errorf("%s must be a string or a number, got %.20s", name, v)
	}
	return s, nil
}

// codeValue accepts an integer or a string holding one.
func codeValue(v []byte) (int, error) {
	if v[0] == 'n' {
		return 0, nil
	}
	if v[0] == '"' {
		v = v[1 : len(v)-1]
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
	if err != nil {
		return 0, fmt.Errorf("code must be an integer, got %.20s", v)
	}
	return n, nil
}

// NullToNil returns nil for an absent or null JSON value, else m.
func NullToNil(m json.RawMessage) json.RawMessage {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	return m
}

// Request is what AppendRequest encodes. Body, Headers and Metadata must be
// valid JSON or nil (omitted).
type Request struct {
	ID       string
	Type     string
	Body     json.RawMessage
	Headers  json.RawMessage
	Metadata json.RawMessage
}

// AppendRequest appends the encoded request to dst. It always writes
// "kind":"req" and a string id.
func AppendRequest(dst []byte, r Request) []byte {
	dst = append(dst, `{"kind":"req","id":`...)
	dst = AppendString(dst, r.ID)
	dst = append(dst, `,"type":`...)
	dst = AppendString(dst, r.Type)
	if r.Headers != nil {
		dst = append(dst, `,"headers":`...)
		dst = append(dst, r.Headers...)
	}
	if r.Body != nil {
		dst = append(dst, `,"body":`...)
		dst = append(dst, r.Body...)
	}
	if r.Metadata != nil {
		dst = append(dst, `,"metadata":`...)
		dst = append(dst, r.Metadata...)
	}
	return append(dst, '}')
}

// Response is what AppendResponse encodes (used by fake servers).
type Response struct {
	ReqID string
	Type  string
	Code  int
	Body  json.RawMessage
}

// AppendResponse appends an encoded response to dst.
func AppendResponse(dst []byte, r Response) []byte {
	dst = append(dst, `{"kind":"resp","reqId":`...)
	dst = AppendString(dst, r.ReqID)
	dst = append(dst, `,"type":`...)
	dst = AppendString(dst, r.Type)
	dst = append(dst, `,"code":`...)
	dst = strconv.AppendInt(dst, int64(r.Code), 10)
	if r.Body != nil {
		dst = append(dst, `,"body":`...)
		dst = append(dst, r.Body...)
	}
	return append(dst, '}')
}

// AppendNotification appends an encoded notification to dst.
func AppendNotification(dst []byte, typ string, body json.RawMessage) []byte {
	dst = append(dst, `{"kind":"notification","type":`...)
	dst = AppendString(dst, typ)
	if body != nil {
		dst = append(dst, `,"body":`...)
		dst = append(dst, body...)
	}
	return append(dst, '}')
}

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// String reports whether raw is a JSON string and, if so, its value.
func String(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}
