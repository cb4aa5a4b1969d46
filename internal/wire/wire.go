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

type rawFrame struct {
	Kind     string          `json:"kind"`
	ID       flexString      `json:"id"`
	ReqID    flexString      `json:"reqId"`
	Type     string          `json:"type"`
	Code     flexInt         `json:"code"`
	Body     json.RawMessage `json:"body"`
	Headers  json.RawMessage `json:"headers"`
	Metadata json.RawMessage `json:"metadata"`
}

// Decode parses one frame. It never panics; an error wraps ErrMalformed.
func Decode(data []byte) (*Frame, error) {
	var r rawFrame
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	f := &Frame{
		RawKind:  r.Kind,
		ID:       string(r.ID),
		ReqID:    string(r.ReqID),
		Type:     r.Type,
		Code:     int(r.Code),
		Body:     nullToNil(r.Body),
		Headers:  nullToNil(r.Headers),
		Metadata: nullToNil(r.Metadata),
	}
	switch r.Kind {
	case "req":
		f.Kind = KindRequest
	case "resp":
		f.Kind = KindResponse
	case "notification":
		f.Kind = KindNotification
	case "":
		// Several documented samples omit kind (reference §22.10): infer it.
		switch {
		case f.ReqID != "":
			f.Kind = KindResponse
		case f.ID != "":
			f.Kind = KindRequest
		case f.Type != "":
			f.Kind = KindNotification
		}
	}
	return f, nil
}

func nullToNil(m json.RawMessage) json.RawMessage {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	return m
}

// flexString accepts a JSON string or number (documented samples send
// numeric ids; responses echo them as strings).
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
		return nil
	}
	if b[0] == '-' || (b[0] >= '0' && b[0] <= '9') {
		*s = flexString(b)
		return nil
	}
	return fmt.Errorf("id must be a string or a number, got %.20s", b)
}

// flexInt accepts a JSON number or a string holding one.
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		b = []byte(v)
	}
	v, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		return fmt.Errorf("code must be an integer, got %.20s", b)
	}
	*n = flexInt(v)
	return nil
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
